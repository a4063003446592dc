"""Writing generated orders fast: ids drawn in bulk, rows sent with Postgres COPY.

One chunk is one transaction: ids for orders, lines and shipments come from
their sequences in one query each, and every table is filled with one COPY through
its owning app's `sql.py` (orders, inventory, logistics). The chunk's stock ledger
goes to inventory (`inventory.sql.stock_movements_bulk_apply`), which writes it and
moves the levels by it, locking them in primary-key order like every other stock
writer. Nothing here spells a table name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from random import Random

from django.db import connection, connections, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Model
from django.utils import timezone

from demo import plans
from demo.world import DemoWorld
from inventory.models import Allocation, StockMovement
from inventory.sql import (
    AllocationRow,
    StockMovementRow,
    allocations_bulk_copy,
    stock_movements_bulk_apply,
)
from logistics.models import DispatchOutbox, Parcel, Shipment, ShipmentLine, TrackingEvent
from logistics.sql import (
    DispatchOutboxRow,
    ParcelRow,
    ShipmentLineRow,
    ShipmentRow,
    TrackingEventRow,
    shipment_ids_draw,
    shipments_bulk_copy,
)
from orders.models import Hold, Order, OrderEvent, OrderLine
from orders.sql import (
    HoldRow,
    OrderEventRow,
    OrderLineRow,
    OrderRow,
    order_ids_and_numbers_draw,
    order_line_ids_draw,
    orders_bulk_copy,
)
from sandbox.store import demo_shipments_register

# The row type of every table the seeder writes (the test of required columns reads it).
ROW_TYPES: dict[type[Model], type[tuple[object, ...]]] = {
    Order: OrderRow,
    OrderLine: OrderLineRow,
    OrderEvent: OrderEventRow,
    Hold: HoldRow,
    Allocation: AllocationRow,
    StockMovement: StockMovementRow,
    Shipment: ShipmentRow,
    DispatchOutbox: DispatchOutboxRow,
    ShipmentLine: ShipmentLineRow,
    Parcel: ParcelRow,
    TrackingEvent: TrackingEventRow,
}

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


def batch_write(cursor: CursorWrapper, *, batch: plans.Batch) -> None:
    """COPY the batch's rows through their owning apps, parents first; stock is applied after."""
    orders_bulk_copy(
        cursor, orders=batch.orders, lines=batch.lines, events=batch.events, holds=batch.holds
    )
    allocations_bulk_copy(cursor, allocations=batch.allocations)
    shipments_bulk_copy(
        cursor,
        shipments=batch.shipments,
        outbox=batch.outbox,
        lines=batch.shipment_lines,
        parcels=batch.parcels,
        tracking_events=batch.tracking_events,
    )


def _batch_build(
    cursor: CursorWrapper,
    *,
    ctx: plans.Context,
    rng: Random,
    skeletons: list[plans.Skeleton],
    full_ledger: bool,
    external_references: list[str] | None,
) -> plans.Batch:
    """Draw the chunk's ids in bulk, then the rows of every order."""
    ids = order_ids_and_numbers_draw(cursor, count=len(skeletons))
    line_ids = iter(order_line_ids_draw(cursor, count=sum(s.line_count for s in skeletons)))
    shipment_ids = iter(shipment_ids_draw(cursor, count=sum(s.shipment_count for s in skeletons)))
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
    return batch


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
        batch = _batch_build(
            cursor,
            ctx=ctx,
            rng=rng,
            skeletons=skeletons,
            full_ledger=full_ledger,
            external_references=external_references,
        )
        batch_write(cursor, batch=batch)
        # Run the deferred foreign-key checks now, before the level locks are taken:
        # a parallel writer then waits for our stock update, not for our whole commit.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        stock_movements_bulk_apply(
            cursor,
            movements=batch.movements,
            reference="seed_demo",
            replenish_extra=REPLENISH_EXTRA,
        )
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
