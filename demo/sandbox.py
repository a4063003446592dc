"""The demo's dispatched shipments, registered at the LSP sandbox that pretends to carry them.

Demo orders are written straight into Consign's tables (bulk.py); the sandbox never
saw them being created. So that their tracking pages, tracking polls, cancellations
and return labels work like those of any other shipment, each dispatched shipment of
a sandbox-served provider is also written into the sandbox's state file
(sandbox.store), with the events Consign holds (same event ids, so a poll
finds nothing new):

- as it is generated: plans.py builds `demo_shipment_record`s and bulk.py registers
  a chunk's worth in one SQLite transaction, before the chunk commits (so a million
  orders cost a few percent more time, not a second pass);
- and by `demo_sandbox_sync`, run by every `seed_demo`, which adds whatever the file
  lacks (a new or deleted state file, data seeded before the sandbox kept state).
  When nothing is missing it only compares two lists of ids. It also raises the
  sandbox's number counter above every reference Consign holds from it, so a
  sandbox that lost its file never hands one out again.

`make run` starts `seed_demo` beside the sandbox: the sandbox reads its file on every
request, so shipments registered while it runs are served at once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, Max
from django.db.models.functions import Cast, Substr

from inventory.sql import WAREHOUSE_SHIP_FROM
from logistics.models import Provider, Shipment
from logistics.sql import SHIPMENT_SANDBOX_RECORDS
from orders.sql import ORDER_SHIP_TO
from sandbox import store as sandbox_store

BATCH = 5000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# Consign's canonical status → what the sandbox calls it (the generic adapter maps back).
SANDBOX_STATUS = {
    "pre_transit": "INFO_RECEIVED",
    "in_transit": "IN_TRANSIT",
    "out_for_delivery": "OUT_FOR_DELIVERY",
    "available_for_pickup": "READY_FOR_PICKUP",
    "delivered": "DELIVERED",
    "failed_attempt": "DELIVERY_FAILED",
    "exception": "EXCEPTION",
    "return_to_sender": "RETURNED_TO_SENDER",
    "cancelled": "CANCELLED",
}


@dataclass(frozen=True)
class SyncResult:
    state: str
    demo_shipments: int
    added: int
    counter_at_least: int


def sandbox_state_for_demo() -> str | None:
    """The state file of the sandbox at LSP_SANDBOX_URL, or None when this host has none.

    With LSP_SANDBOX_STATE set that file; else the sandbox's default file for its
    port, when the sandbox runs on this machine (a loopback URL).
    """
    explicit = settings.LSP_SANDBOX_STATE
    if explicit == sandbox_store.MEMORY:
        return None
    url = urlsplit(settings.LSP_SANDBOX_URL)
    if not explicit and (url.hostname or "") not in LOOPBACK:
        return None
    return sandbox_store.sandbox_state_path(
        explicit=explicit,
        var_dir=Path(settings.BASE_DIR) / "var",
        port=url.port or (443 if url.scheme == "https" else 80),
    )


def demo_sandbox_sync(*, state: str) -> SyncResult:
    """Register every dispatched demo shipment of the sandbox-served providers in `state`.

    Sandbox-served providers are those whose base URL is LSP_SANDBOX_URL (the demo's
    `sandbox` and `fulfilnet`). Returns how many demo shipments exist and how many
    were added now.
    """
    served = _served_providers()
    demo = _demo_shipments(served)
    known = sandbox_store.demo_shipment_ids(state)
    missing = sorted(pk for pk, reference in demo if reference not in known)
    counter = _sandbox_numbers_in_use(served)
    added = sandbox_store.demo_shipments_register(
        state, _records(missing), counter_at_least=counter, batch_size=BATCH
    )
    return SyncResult(state=state, demo_shipments=len(demo), added=added, counter_at_least=counter)


def served_provider_ids(providers: Iterable[Provider]) -> list[int]:
    """The providers the sandbox at LSP_SANDBOX_URL serves (demo: `sandbox`, `fulfilnet`)."""
    base = settings.LSP_SANDBOX_URL.rstrip("/")
    return [provider.pk for provider in providers if provider.base_url.rstrip("/") == base]


def demo_shipment_record(
    *,
    reference: str,
    token: str,
    tracking_number: str,
    dispatched_at: dt.datetime,
    order_number: str,
    ship_from: dict[str, str],
    ship_to: dict[str, str],
    events: list[tuple[str, str, dt.datetime, str, str]],
    cost: tuple[str, str] | None,
) -> sandbox_store.DemoShipment:
    """What the sandbox keeps of one generated shipment (plans.py builds these as it goes).

    `events` are (id, Consign status, occurred_at, description, location), as Consign
    stores them. The same shape as _records_sql builds from the database.
    """
    statuses = [SANDBOX_STATUS.get(status, status.upper()) for _, status, _, _, _ in events]
    return sandbox_store.DemoShipment(
        id=reference,
        idempotency_key=token,
        tracking_number=tracking_number,
        created_at=dispatched_at.timestamp(),
        request=_dumps(
            {
                "reference": token,
                "order_number": order_number,
                "ship_from": ship_from,
                "ship_to": ship_to,
            }
        ),
        events=_dumps(
            [
                {
                    "id": event_id,
                    "status": sandbox_status,
                    "occurred_at": at.astimezone(dt.UTC).isoformat(),
                    "description": description,
                    "location": location,
                }
                for (event_id, _, at, description, location), sandbox_status in zip(
                    events, statuses, strict=True
                )
            ]
        ),
        plan=_dumps(statuses),
        steps=len(statuses),
        status=statuses[-1] if statuses else "INFO_RECEIVED",
        cost=_dumps({"amount": cost[0], "currency": cost[1]}) if cost else None,
    )


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _served_providers() -> dict[int, str]:
    providers = list(Provider.objects.all())
    served = set(served_provider_ids(providers))
    return {provider.pk: provider.code for provider in providers if provider.pk in served}


def _demo_shipments(served: dict[int, str]) -> list[tuple[int, str]]:
    """(id, provider reference) of the demo generator's dispatched shipments (plans.py)."""
    if not served:
        return []
    prefixes = "|".join(sorted({code.upper() for code in served.values()}))
    return list(
        Shipment.objects.filter(
            provider_id__in=served,
            direction=Shipment.Direction.OUTBOUND,
            provider_reference__regex=rf"^({prefixes})-[0-9]+$",
        )
        .exclude(tracking_number="")
        .values_list("id", "provider_reference")
        .iterator(chunk_size=BATCH)
    )


def _sandbox_numbers_in_use(served: dict[int, str]) -> int:
    """The highest number in a reference the sandbox itself handed out (sbx_…, sbr_…)."""
    if not served:
        return 0
    found = (
        Shipment.objects.filter(
            provider_id__in=served, provider_reference__regex=r"^sb[xr]_[0-9]+$"
        )
        .annotate(number=Cast(Substr("provider_reference", 5), BigIntegerField()))
        .aggregate(highest=Max("number"))
    )
    return int(found["highest"] or 0)


def _records(ids: list[int]) -> Iterator[sandbox_store.DemoShipment]:
    statuses = {"consign": list(SANDBOX_STATUS), "sandbox": list(SANDBOX_STATUS.values())}
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        with transaction.atomic(), connection.cursor() as cursor:
            # A batch is one set-based query; JIT compiling it costs more than it saves,
            # and a big database may take longer than the web's statement timeout.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL statement_timeout = '5min'")
            # The id range as well as the list: an index range scan per table, whatever
            # the statistics of freshly bulk-loaded tables say.
            cursor.execute(
                _records_sql(), {"ids": batch, "low": batch[0], "high": batch[-1], **statuses}
            )
            rows = cursor.fetchall()
        for row in rows:
            yield sandbox_store.DemoShipment(*row)


def _records_sql() -> str:
    """One row per shipment of a batch, in DemoShipment's field order, JSON built by Postgres.

    Python only hands the rows on, so a million-order demo book registers in about a
    minute. Composed of the owning apps' fragments (logistics: the shipment and its
    events, orders: where it goes, inventory: where it comes from); the shapes are those
    of GenericHttpAdapter.shipment_payload and of the sandbox's events.
    tests/demo/test_seed_demo_sandbox.py compares them with the same data read through
    the ORM.
    """
    return f"""
        WITH s AS ({SHIPMENT_SANDBOX_RECORDS}),
        o AS ({ORDER_SHIP_TO}),
        w AS ({WAREHOUSE_SHIP_FROM})
        SELECT s.provider_reference, s.token, s.tracking_number, s.created_at,
            json_build_object(
                'reference', s.token,
                'order_number', o.number,
                'ship_from', w.ship_from,
                'ship_to', o.ship_to
            )::text,
            s.events::text, s.plan::text, s.steps, s.last_status, s.cost
        FROM s
        JOIN o ON o.id = s.order_id
        JOIN w ON w.id = s.warehouse_id
        ORDER BY s.id
    """  # noqa: S608 (fragments from the owning apps' sql.py; values are bound parameters)
