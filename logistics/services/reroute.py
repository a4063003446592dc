"""Sending a shipment whose dispatch a provider refused to another provider."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from logistics import error_codes
from logistics.hooks import OrderDispatchState, order_gate, order_timeline
from logistics.models import DispatchOutbox, Provider, ServiceLevel, Shipment
from logistics.promise_tables import shipment_promise
from logistics.services.dispatch import shipment_close_unsent

if TYPE_CHECKING:
    from core.users import ActingUser


def shipment_reroute_refusal(*, shipment: Shipment, row: DispatchOutbox | None) -> str:
    """Why the shipment cannot be re-routed to another provider, or "" when it can.

    `shipment_abandon_refusal` first (no provider may hold it); then the goods must be
    in a site of our own, since only the LSP operating a site can hand its goods over.
    """
    refusal = shipment_abandon_refusal(shipment=shipment, row=row)
    if not refusal and shipment.warehouse.provider_id is not None:
        # The goods are in that LSP's site: only it can hand them to a carrier.
        return "its warehouse is operated by an LSP"
    return refusal


def shipment_abandon_refusal(*, shipment: Shipment, row: DispatchOutbox | None) -> str:
    """Why a failed dispatch must not be given up (re-sent elsewhere or cancelled), or "".

    Re-routing must never leave two live shipments at providers for one parcel, so
    only a shipment that no provider can hold qualifies: its provider answered its
    create request with a refusal (HTTP 4xx, outbox `rejected`). A provider that
    honours idempotency tokens (the dispatch contract) never refuses a token it
    accepted. Not qualifying: retries given up after timeouts or 5xx (`failed`: a
    lost answer may hide a shipment the provider created), a reference conflict (the
    provider answered with a shipment) and refusals with no HTTP status (a 2xx body
    that could not be read, or a call that never left: retry those instead).
    """
    if shipment.status != Shipment.Status.DISPATCH_FAILED:
        return "its dispatch has not failed"
    if shipment.provider_reference:
        return "the provider holds a shipment for it"
    if (
        row is None
        or row.status != DispatchOutbox.Status.REJECTED
        or row.last_status_code is None
        or not 400 <= row.last_status_code < 500
    ):
        return "the provider did not clearly refuse it and may hold a shipment; retry instead"
    return ""


@dataclass(frozen=True)
class UnsentShipment:
    """A shipment of an order that has not reached a provider, or why it may have."""

    shipment_id: int
    status: str
    refusal: str  # "" when it may be cancelled: no provider holds it or will


def shipments_unsent_review(*, order_id: int) -> list[UnsentShipment]:
    """Lock the order's outbox rows and live shipments; say which could be cancelled unsent.

    For the order workflow's re-route, whose caller holds the order's row lock (the
    dispatch gate takes the same lock while it calls a provider, so no dispatch is
    half done). Rows are locked before shipments, as retry and the failure recorder
    take them. A worker that claimed a row before this lock is named (refusal "being
    handed to the provider"); one that tries after it skips the locked row (`_claim`
    skips locked rows) and, once the shipment is cancelled, finds no row to send.
    Each live (not cancelled) shipment is listed: a pending one with no lease and a
    dispatch failure the provider clearly refused (`shipment_abandon_refusal`) may be
    cancelled; anything else (accepted, moving, delivered, a failure a provider may
    hold) carries its refusal.
    """
    now = timezone.now()
    rows = {
        row.shipment_id: row
        for row in DispatchOutbox.objects.select_for_update()
        .filter(shipment__order_id=order_id)
        .order_by("pk")
    }
    shipments = (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("warehouse")
        .filter(order_id=order_id)
        .exclude(status=Shipment.Status.CANCELLED)
        .order_by("pk")
    )
    found = []
    for shipment in shipments:
        row = rows.get(shipment.pk)
        if shipment.status == Shipment.Status.PENDING:
            leased = row is not None and row.locked_until is not None and row.locked_until > now
            refusal = "it is being handed to the provider" if leased else ""
            if row is not None and row.status != DispatchOutbox.Status.PENDING:
                refusal = f"its dispatch is {row.status}"
        elif shipment.status == Shipment.Status.DISPATCH_FAILED:
            refusal = shipment_abandon_refusal(shipment=shipment, row=row)
        else:
            refusal = f"it is with the provider ({shipment.status})"
        found.append(UnsentShipment(shipment.pk, shipment.status, refusal))
    return found


@transaction.atomic(savepoint=False)
def shipments_cancel_unsent(
    *,
    order_id: int,
    shipment_ids: Collection[int],
    user: ActingUser | None = None,
    actor: str | None = None,
) -> list[int]:
    """Cancel these shipments of the order, which `shipments_unsent_review` just cleared
    in the caller's transaction (its locks held), and close their outbox rows.

    Each gets a `shipment_cancelled` timeline entry. Returns the ids cancelled.
    """
    shipments = list(
        Shipment.objects.select_related("provider", "order")
        .filter(order_id=order_id, pk__in=list(shipment_ids))
        .exclude(status=Shipment.Status.CANCELLED)
        .order_by("pk")
    )
    rows = {
        row.shipment_id: row
        for row in DispatchOutbox.objects.filter(shipment_id__in=[s.pk for s in shipments])
    }
    for shipment in shipments:
        shipment_close_unsent(shipment=shipment, row=rows.get(shipment.pk), user=user, actor=actor)
    return [shipment.pk for shipment in shipments]


@transaction.atomic
def shipment_dispatch_reroute(
    *,
    shipment: Shipment,
    provider: Provider,
    user: ActingUser | None = None,
    actor: str | None = None,
) -> Shipment:
    """Hand a shipment its provider refused to `provider` and queue its dispatch.

    Locks the order (like the dispatch gate, through logistics.hooks.order_gate, so a
    cancel or hold waits), the outbox row and the shipment. The shipment keeps its
    lines and warehouse; it takes the new provider's active service level of the same
    code, if it has one. Records a
    `dispatch_rerouted` event and enqueues the dispatch on commit. Raises Conflict
    (shipment_not_reroutable) when `shipment_reroute_refusal` names a reason, the
    order is cancelled, or `provider` is inactive or the shipment's own.
    """
    from logistics.tasks import dispatch_shipment_task

    order_id = Shipment.objects.values_list("order_id", flat=True).get(pk=shipment.pk)
    order_state = order_gate.impl.order_lock_for_dispatch(order_id=order_id)
    # Outbox row before shipment, as the retry and the failure recorder take them, so a
    # retry clicked at the same moment waits instead of deadlocking.
    row = DispatchOutbox.objects.select_for_update().filter(shipment_id=shipment.pk).first()
    locked = (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("order", "provider", "warehouse", "service_level")
        .get(pk=shipment.pk)
    )
    refusal = shipment_reroute_refusal(shipment=locked, row=row)
    if not refusal and order_state == OrderDispatchState.CANCELLED:
        refusal = "its order is cancelled"
    if not refusal and (not provider.is_active or provider.pk == locked.provider_id):
        refusal = f"{provider.code} is not another active provider"
    if refusal or row is None:
        raise Conflict(
            f"Shipment {locked.pk} cannot be re-routed: {refusal}.",
            code=error_codes.SHIPMENT_NOT_REROUTABLE,
        )
    previous = locked.provider
    level_code = locked.service_level.code if locked.service_level is not None else ""
    locked.provider = provider
    locked.service_level = (
        ServiceLevel.objects.filter(provider=provider, code=level_code, is_active=True).first()
        if level_code
        else None
    )
    # The token names one create request at one provider; a fresh one keeps a later
    # route back to the first provider from replaying its cached refusal.
    locked.idempotency_token = uuid.uuid4()
    locked.status = Shipment.Status.PENDING
    locked.dispatch_attempts = 0
    locked.last_error = ""
    if locked.ship_by is not None:
        # Another carrier, another transit time: the promise is made again from now.
        promise = shipment_promise(
            warehouse_id=locked.warehouse_id,
            provider_id=provider.pk,
            service_level_id=locked.service_level.pk if locked.service_level else None,
            country=locked.order.shipping_country,
            at=timezone.now(),
        )
        locked.ship_by = promise.ship_by
        locked.promised_delivery_date = promise.promised_delivery_date
    locked.save(
        update_fields=[
            "ship_by",
            "promised_delivery_date",
            "provider",
            "service_level",
            "idempotency_token",
            "status",
            "dispatch_attempts",
            "last_error",
            "updated_at",
        ]
    )
    row.status = DispatchOutbox.Status.PENDING
    row.attempts = 0
    row.next_attempt_at = timezone.now()
    row.locked_until = None
    row.last_error = ""
    row.last_status_code = None
    row.save()
    order_timeline.impl.dispatch_rerouted_event(
        shipment=locked, previous_provider=previous.code, user=user, actor=actor
    )
    transaction.on_commit(partial(dispatch_shipment_task.delay, shipment_id=locked.pk))
    shipment.status = locked.status
    shipment.provider = provider
    return locked
