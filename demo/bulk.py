"""Writing generated orders fast: ids drawn in bulk, rows sent with Postgres COPY.

One chunk is one transaction: ids for orders, lines and shipments come from
their sequences in one query each, every table is filled with one COPY, and
the stock the chunk reserves is applied to the levels with a matching ledger
row, locking the levels in primary-key order like every other stock writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from random import Random

from django.db import connection, connections, transaction
from django.utils import timezone

from demo import plans
from demo.world import DemoWorld
from inventory.models import StockMovement
from orders.models import Order
from sandbox.store import demo_shipments_register

# Column order of the tuples plans.py builds, per table.
COLUMNS: dict[str, tuple[str, ...]] = {
    "orders_order": (
        "id", "created_at", "updated_at", "number", "channel_id", "external_reference", "status",
        "currency", "total_amount", "priority", "customer_email", "customer_name",
        "customer_phone", "customer_phone_key", "shipping_name", "shipping_line1",
        "shipping_line2", "shipping_city", "shipping_postcode", "shipping_postcode_key",
        "shipping_region", "shipping_country", "service_level_id", "placed_at", "cancelled_at",
    ),
    "orders_orderline": (
        "id", "order_id", "line_number", "product_id", "sku", "quantity", "unit_price",
        "quantity_shipped", "quantity_delivered", "quantity_returned",
    ),
    "orders_orderevent": ("order_id", "type", "parameters", "user_id", "actor", "created_at"),
    "orders_hold": (
        "created_at", "updated_at", "order_id", "reason", "note", "owner_id", "due_at",
        "placed_by_id", "released_at", "released_by_id", "release_note",
    ),
    "inventory_allocation": (
        "created_at", "updated_at", "order_line_id", "warehouse_id", "quantity", "status",
    ),
    "inventory_stockmovement": (
        "product_id", "warehouse_id", "type", "on_hand_delta", "reserved_delta", "reason",
        "reference", "order_id", "actor_id", "note", "created_at",
    ),
    "logistics_shipment": (
        "id", "created_at", "updated_at", "order_id", "warehouse_id", "provider_id",
        "service_level_id", "status", "idempotency_token", "provider_reference",
        "tracking_number", "label_url", "cost", "cost_currency", "dispatch_attempts",
        "last_error", "dispatched_at", "delivered_at", "last_event_at", "shipped_at",
        "poll_interval_seconds", "direction",
    ),
    "logistics_dispatchoutbox": (
        "created_at", "updated_at", "shipment_id", "status", "attempts", "next_attempt_at",
        "last_error", "sent_at",
    ),
    "logistics_shipmentline": ("shipment_id", "order_line_id", "quantity"),
    "logistics_parcel": (
        "shipment_id", "weight_grams", "length_mm", "width_mm", "height_mm", "tracking_number",
    ),
    "logistics_trackingevent": (
        "shipment_id", "status", "provider_status", "description", "location", "occurred_at",
        "received_at", "dedup_key", "raw",
    ),
}  # fmt: skip

# Parents before children, so the deferred foreign-key checks find their rows.
BATCH_TABLES: tuple[tuple[str, str], ...] = (
    ("orders_order", "orders"),
    ("orders_orderline", "lines"),
    ("orders_orderevent", "events"),
    ("orders_hold", "holds"),
    ("inventory_allocation", "allocations"),
    ("inventory_stockmovement", "movements"),
    ("logistics_shipment", "shipments"),
    ("logistics_dispatchoutbox", "outbox"),
    ("logistics_shipmentline", "shipment_lines"),
    ("logistics_parcel", "parcels"),
    ("logistics_trackingevent", "tracking_events"),
)

# A level topped up by a generated run gets this much on top of what it lacks.
REPLENISH_EXTRA = 100


@dataclass
class Progress:
    done: int
    total: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def _sequence_values(cursor, *, table: str, count: int) -> list[int]:
    if not count:
        return []
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    (sequence,) = cursor.fetchone()
    cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [sequence, count])
    return [row[0] for row in cursor.fetchall()]


def _order_ids_and_numbers(cursor, *, count: int) -> list[tuple[int, int]]:
    # Numbers come from the same sequence order intake uses (orders.numbers), so
    # generated and real orders never collide.
    cursor.execute("SELECT pg_get_serial_sequence('orders_order', 'id')")
    (sequence,) = cursor.fetchone()
    cursor.execute(
        "SELECT nextval(%s), nextval('orders_order_number_seq') FROM generate_series(1, %s)",
        [sequence, count],
    )
    return cursor.fetchall()


def batch_write(cursor, *, batch: plans.Batch) -> None:
    """COPY every table's rows of the batch, parents first."""
    for table, attribute in BATCH_TABLES:
        rows = getattr(batch, attribute)
        if not rows:
            continue
        columns = ", ".join(COLUMNS[table])
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # noqa: S608 (fixed names)
            for row in rows:
                copy.write_row(row)


def stock_apply(cursor, *, deltas: dict[tuple[int, int], list[int]], reference: str) -> int:
    """Add the batch's stock deltas to the levels, receiving stock where a level would run short.

    The levels are locked in primary-key order. A level that would end with
    reserved > on_hand (or on_hand < 0) first gets a receipt movement, so the
    database CHECK holds and the ledger still sums to the level. Returns the
    number of receipts written.
    """
    deltas = {key: value for key, value in deltas.items() if value[0] or value[1]}
    if not deltas:
        return 0
    keys = sorted(deltas)
    cursor.execute(
        "INSERT INTO inventory_stocklevel (product_id, warehouse_id, on_hand, reserved,"
        " low_stock_threshold, updated_at)"
        " SELECT p, w, 0, 0, 0, now() FROM unnest(%s::bigint[], %s::bigint[]) AS k(p, w)"
        " ON CONFLICT (product_id, warehouse_id) DO NOTHING",
        [[k[0] for k in keys], [k[1] for k in keys]],
    )
    cursor.execute(
        "SELECT id, product_id, warehouse_id, on_hand, reserved FROM inventory_stocklevel"
        " WHERE (product_id, warehouse_id) IN"
        " (SELECT * FROM unnest(%s::bigint[], %s::bigint[])) ORDER BY id FOR UPDATE",
        [[k[0] for k in keys], [k[1] for k in keys]],
    )
    receipts, updates = [], []
    now = timezone.now()
    for level_id, product_id, warehouse_id, on_hand, reserved in cursor.fetchall():
        on_hand_delta, reserved_delta = deltas[(product_id, warehouse_id)]
        short = max(reserved + reserved_delta - (on_hand + on_hand_delta), 0)
        if short:
            received = short + REPLENISH_EXTRA
            receipts.append(
                (product_id, warehouse_id, StockMovement.Type.RECEIPT, received, 0,
                 "replenishment", reference, None, None, "", now)
            )  # fmt: skip
            on_hand_delta += received
        updates.append((level_id, on_hand_delta, reserved_delta))
    if receipts:
        columns = ", ".join(COLUMNS["inventory_stockmovement"])
        with cursor.copy(f"COPY inventory_stockmovement ({columns}) FROM STDIN") as copy:  # noqa: S608
            for row in receipts:
                copy.write_row(row)
    cursor.execute(
        "UPDATE inventory_stocklevel s SET on_hand = s.on_hand + v.d_on_hand,"
        " reserved = s.reserved + v.d_reserved, updated_at = now()"
        " FROM unnest(%s::bigint[], %s::int[], %s::int[]) AS v(id, d_on_hand, d_reserved)"
        " WHERE s.id = v.id",
        [[u[0] for u in updates], [u[1] for u in updates], [u[2] for u in updates]],
    )
    return len(receipts)


def orders_generate_chunk(
    *,
    ctx: plans.Context,
    rng: Random,
    count: int,
    statuses: list[str] | None = None,
    full_ledger: bool = False,
    external_references: list[str] | None = None,
) -> int:
    """Generate and write `count` orders in one transaction. Returns how many were written."""
    skeletons = plans.skeletons_draw(rng=rng, count=count, statuses=statuses)
    with transaction.atomic(), connection.cursor() as cursor:
        # A chunk on a busy 1 M-row database can take longer than the web's statement timeout.
        cursor.execute("SET LOCAL statement_timeout = '15min'")
        ids = _order_ids_and_numbers(cursor, count=count)
        line_ids = iter(
            _sequence_values(
                cursor, table="orders_orderline", count=sum(s.line_count for s in skeletons)
            )
        )
        shipment_ids = iter(
            _sequence_values(
                cursor, table="logistics_shipment", count=sum(s.shipment_count for s in skeletons)
            )
        )
        batch = plans.Batch()
        for index, (skeleton, (order_id, number)) in enumerate(zip(skeletons, ids, strict=True)):
            plans.order_rows_add(
                batch=batch,
                ctx=ctx,
                rng=rng,
                skeleton=skeleton,
                order_id=order_id,
                number=number,
                line_ids=[next(line_ids) for _ in range(skeleton.line_count)],
                shipment_ids=[next(shipment_ids) for _ in range(skeleton.shipment_count)],
                external_reference=external_references[index] if external_references else None,
                full_ledger=full_ledger,
            )
        batch_write(cursor, batch=batch)
        # Run the deferred foreign-key checks now, before the level locks are taken:
        # a parallel writer then waits for our stock update, not for our whole commit.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        stock_apply(cursor, deltas=batch.stock_deltas, reference="seed_demo")
        if ctx.sandbox_state and batch.sandbox_shipments:
            # Before the commit: a chunk that fails leaves unused sandbox rows behind
            # (harmless, their ids come from a sequence), never an unknown shipment.
            demo_shipments_register(ctx.sandbox_state, batch.sandbox_shipments)
    return count


def _chunk_in_worker(ctx: plans.Context, seed: int, size: int) -> int:
    # Runs in a child process with its own database connection.
    return orders_generate_chunk(ctx=ctx, rng=Random(seed), count=size)


def orders_generate(
    *,
    world: DemoWorld,
    count: int,
    chunk_size: int = 10_000,
    seed: int | None = None,
    workers: int = 1,
    on_progress: Callable[[Progress], None] | None = None,
    sandbox_state: str | None = None,
) -> int:
    """Generate `count` realistic orders in every status, in chunks of one transaction each.

    Each chunk is committed on its own, so an interrupted run keeps what it
    wrote and stays consistent. With workers > 1 the chunks are written by that
    many processes at once (Python generation and Postgres index work then
    overlap). With `sandbox_state`, dispatched shipments of sandbox-served providers
    are registered in that LSP sandbox state file too. Returns the number of orders
    written.
    """
    rng = Random(seed)
    ctx = plans.context_build(world=world, now=timezone.now(), sandbox_state=sandbox_state)
    sizes = [min(chunk_size, count - start) for start in range(0, count, chunk_size)]
    started = time.monotonic()
    done = 0

    def report(size: int) -> None:
        nonlocal done
        done += size
        if on_progress:
            on_progress(Progress(done=done, total=count, seconds=time.monotonic() - started))

    # Other processes cannot see rows of an open transaction (a test's, say): write here.
    if workers <= 1 or connection.in_atomic_block:
        for size in sizes:
            report(orders_generate_chunk(ctx=ctx, rng=rng, count=size))
        return done

    # Children must not share the parent's socket to Postgres.
    connections.close_all()
    seeds = [rng.getrandbits(63) for _ in sizes]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        futures = [
            pool.submit(_chunk_in_worker, ctx, chunk_seed, size)
            for chunk_seed, size in zip(seeds, sizes, strict=True)
        ]
        for future in as_completed(futures):
            report(future.result())
    return done


DEMO_REFERENCE_PREFIX = "DEMO-"
DEMO_ORDERS_PER_STATUS = 5
DEMO_SEED = 424242
DEMO_LOCK_KEY = 0x5EED_DE70


def demo_orders_ensure(*, world: DemoWorld, sandbox_state: str | None = None) -> int:
    """The hand-sized demo book: a few orders in every status, with a complete stock history.

    Written once: if demo orders exist already nothing happens. Returns how many were
    created. `sandbox_state` as for orders_generate.
    """
    with transaction.atomic():
        # Two seed_demo runs at once (two `make run`s) must not both write the demo book.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DEMO_LOCK_KEY])
        if Order.objects.filter(external_reference__startswith=DEMO_REFERENCE_PREFIX).exists():
            return 0
        statuses = list(Order.Status.values)
        count = len(statuses) * DEMO_ORDERS_PER_STATUS
        ctx = plans.context_build(world=world, now=timezone.now(), sandbox_state=sandbox_state)
        return orders_generate_chunk(
            ctx=ctx,
            rng=Random(DEMO_SEED),
            count=count,
            statuses=statuses,
            full_ledger=True,
            external_references=[f"{DEMO_REFERENCE_PREFIX}{i + 1:04d}" for i in range(count)],
        )
