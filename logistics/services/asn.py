"""ASNs to LSPs: the send outbox, cancelling at the LSP, the LSP's receipt events.

The ASN itself is inventory's table (inventory.services.receiving writes it and the
stock ledger); this module is the logistics side around it. It mirrors dispatch's
guarantees (logistics/services/dispatch.py): the outbox row is written in the ASN's
transaction, one worker at a time holds the lease and calls the LSP while holding the
ASN's row lock, the ASN number is the idempotency key (a retry after a lost answer gets
the same LSP ASN), retryable failures back off, refusals park the row for a person.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict
from inventory.models import InboundShipment, Warehouse
from inventory.selectors import inbound_data
from inventory.services import receiving
from inventory.services.receiving import ExpectedLine, LspReceipt
from logistics import broker, error_codes
from logistics.adapters.base import AdapterError, InboundEvent, ProviderAdapter, ProviderRejected
from logistics.adapters.registry import adapter_for
from logistics.models import AsnOutbox, Provider
from logistics.services.dispatch import (
    DispatchResult,
    Outcome,
    backoff_seconds,
    outbox_claim,
)
from logistics.services.partner_events import partner_event_publish
from logistics.webhook_topics import Topic

if TYPE_CHECKING:
    from core.users import ActingUser

logger = logging.getLogger(__name__)


def _enqueue_send(inbound_id: int) -> None:
    from logistics.tasks import dispatch_asn_task

    transaction.on_commit(partial(dispatch_asn_task.delay, inbound_id=inbound_id))


@transaction.atomic
def asn_create(
    *,
    warehouse_code: str,
    reference: str,
    lines: Sequence[ExpectedLine],
    expected_at: dt.datetime | None = None,
    carrier: str = "",
    tracking_number: str = "",
    supplier: str = "",
    channel_id: int | None = None,
    user: ActingUser | None = None,
) -> InboundShipment:
    """Create an ASN; for an LSP-operated warehouse also its outbox row (sent after commit).

    Raises what inventory.services.receiving.inbound_create raises; nothing is written then.
    """
    inbound = receiving.inbound_create(
        warehouse_code=warehouse_code,
        reference=reference,
        lines=lines,
        expected_at=expected_at,
        carrier=carrier,
        tracking_number=tracking_number,
        supplier=supplier,
        channel_id=channel_id,
        user=user,
    )
    if inbound.status == InboundShipment.Status.DRAFT:
        AsnOutbox.objects.create(inbound=inbound, next_attempt_at=timezone.now())
        _enqueue_send(inbound.pk)
    return inbound


def _claim(inbound_id: int) -> AsnOutbox | None:
    return outbox_claim(
        AsnOutbox.objects.filter(inbound_id=inbound_id, status=AsnOutbox.Status.PENDING)
    )


def asn_send(*, inbound_id: int, adapter: ProviderAdapter | None = None) -> DispatchResult:
    """Send one ASN to its warehouse's LSP, at most once per outbox lease.

    The LSP is called while the ASN's row lock is held, so a cancel either lands first
    (no call: CANCELLED) or waits for the answer (and then cancels at the LSP). Returns
    what happened; RETRY carries the backoff. Never raises for provider errors.
    """
    row = _claim(inbound_id)
    if row is None:
        return DispatchResult(Outcome.NOOP)
    with transaction.atomic():
        inbound = receiving.inbound_lock(inbound_id=inbound_id)
        row = AsnOutbox.objects.select_for_update().get(pk=row.pk)
        if row.status != AsnOutbox.Status.PENDING:
            return DispatchResult(Outcome.NOOP)
        if inbound.status == InboundShipment.Status.CANCELLED:
            row.delete()
            return DispatchResult(Outcome.CANCELLED, message="ASN cancelled")
        provider = inbound.warehouse.provider
        assert provider is not None  # noqa: S101 - an LSP site has one (warehouse_lsp_site_has_provider)
        adapter = adapter or adapter_for(provider)
        try:
            created = adapter.create_inbound(inbound)
        except AdapterError as exc:
            return _record_failure(row=row, error=exc)
        except Exception as exc:
            logger.exception("Adapter crashed sending ASN %s", inbound.number)
            return _record_failure(row=row, error=AdapterError(repr(exc)), retryable=True)
        receiving.inbound_mark_sent(
            inbound_id=inbound.pk, provider_reference=created.provider_reference
        )
        row.status = AsnOutbox.Status.SENT
        row.sent_at = timezone.now()
        row.locked_until = None
        row.last_error = ""
        row.last_status_code = None
        row.save()
        return DispatchResult(Outcome.SENT)


def _record_failure(
    *, row: AsnOutbox, error: AdapterError, retryable: bool | None = None
) -> DispatchResult:
    """Record a failed send (the caller holds the row's and the ASN's locks)."""
    retryable = error.retryable if retryable is None else retryable
    row.last_error = error.message[:2000]
    row.last_status_code = error.status_code
    row.locked_until = None
    receiving.inbound_note_error(inbound_id=row.inbound_id, message=row.last_error)
    if retryable and row.attempts < settings.DISPATCH_MAX_ATTEMPTS:
        delay = backoff_seconds(
            attempt=row.attempts,
            base=settings.DISPATCH_RETRY_BASE_SECONDS,
            cap=settings.DISPATCH_RETRY_MAX_SECONDS,
        )
        row.next_attempt_at = timezone.now() + dt.timedelta(seconds=delay)
        row.save()
        logger.info("Sending ASN %s failed, retry in %.1fs: %s", row.inbound_id, delay, error)
        return DispatchResult(Outcome.RETRY, retry_in=delay, message=error.message)
    row.status = AsnOutbox.Status.FAILED if retryable else AsnOutbox.Status.REJECTED
    row.save()
    logger.warning("ASN %s parked as %s: %s", row.inbound_id, row.status, error.message)
    return DispatchResult(Outcome.FAILED if retryable else Outcome.REJECTED, message=error.message)


@transaction.atomic
def asn_send_retry(*, inbound: InboundShipment) -> AsnOutbox:
    """Put a parked ASN (refused, or retries exhausted) back in the send queue.

    Raises Conflict (inbound_not_retryable) if it is not parked.
    """
    row = AsnOutbox.objects.select_for_update().filter(inbound_id=inbound.pk).first()
    if row is None or row.status not in (AsnOutbox.Status.REJECTED, AsnOutbox.Status.FAILED):
        raise Conflict(
            f"{inbound.number} is not waiting for a manual retry.",
            code=error_codes.INBOUND_NOT_RETRYABLE,
        )
    row.status = AsnOutbox.Status.PENDING
    row.attempts = 0
    row.next_attempt_at = timezone.now()
    row.locked_until = None
    row.save()
    _enqueue_send(inbound.pk)
    return row


def asn_sweep(*, limit: int = 500) -> int:
    """Re-enqueue pending ASN outbox rows that are due but were not acknowledged in time."""
    from logistics.tasks import dispatch_asn_task

    if broker.queue_backlog("dispatch"):
        return 0
    now = timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.LOGISTICS_ACK_TIMEOUT_SECONDS)
    with transaction.atomic():
        rows = list(
            AsnOutbox.objects.select_for_update(skip_locked=True)
            .filter(status=AsnOutbox.Status.PENDING, next_attempt_at__lte=stale_before)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
            .order_by("next_attempt_at")[:limit]
        )
        for row in rows:
            row.next_attempt_at = now
            transaction.on_commit(partial(dispatch_asn_task.delay, inbound_id=row.inbound_id))
        AsnOutbox.objects.bulk_update(rows, ["next_attempt_at"])
    return len(rows)


@transaction.atomic
def asn_cancel(
    *,
    inbound: InboundShipment,
    user: ActingUser | None = None,
    adapter: ProviderAdapter | None = None,
) -> InboundShipment:
    """Cancel an ASN before receiving started; at the LSP too once it has accepted it.

    Raises IllegalTransition (inbound_not_cancellable, 409) once receiving started,
    Conflict (inbound_cancel_refused, 409) when the LSP refuses (it started receiving),
    Conflict (inbound_cancel_unavailable, 409) when the LSP cannot be reached (try again).
    Nothing changes when it raises.
    """
    locked = receiving.inbound_lock(inbound_id=inbound.pk)
    if locked.status == InboundShipment.Status.CANCELLED:
        return locked
    if locked.status not in receiving.CANCELLABLE:
        return receiving.inbound_cancel(inbound=locked, user=user)  # raises
    row = AsnOutbox.objects.select_for_update().filter(inbound_id=locked.pk).first()
    if locked.warehouse.kind == Warehouse.Kind.LSP and locked.provider_reference:
        provider = locked.warehouse.provider
        assert provider is not None  # noqa: S101 - an LSP site has one (warehouse_lsp_site_has_provider)
        try:
            (adapter or adapter_for(provider)).cancel_inbound(locked)
        except ProviderRejected as exc:
            raise Conflict(
                f"{provider.code} refused to cancel {locked.number}: {exc.message}",
                code=error_codes.INBOUND_CANCEL_REFUSED,
            ) from exc
        except AdapterError as exc:
            raise Conflict(
                f"{provider.code} could not be reached to cancel {locked.number}; try again.",
                code=error_codes.INBOUND_CANCEL_UNAVAILABLE,
            ) from exc
    if row is not None and row.status != AsnOutbox.Status.SENT:
        row.delete()  # never accepted by the LSP: nothing more to send
    return receiving.inbound_cancel(inbound=locked, user=user)


def _publish_received(inbound: InboundShipment) -> None:
    if inbound.channel_id is not None and inbound.status == InboundShipment.Status.RECEIVED:
        partner_event_publish(
            channel_id=inbound.channel_id,
            topic=Topic.INBOUND_RECEIVED,
            data=inbound_data(inbound=inbound),
        )


@transaction.atomic
def asn_close(
    *, inbound: InboundShipment, user: ActingUser | None = None
) -> list[dict[str, object]]:
    """Close an ASN received at an own site (the barcode screen): `received`, and the
    channel hears `inbound.received`. Returns the discrepancies (see inbound_close)."""
    discrepancies = receiving.inbound_close(inbound=inbound, user=user)
    inbound.refresh_from_db()
    _publish_received(inbound)
    return discrepancies


# Statuses in which an ASN at a poll-only LSP is still asked about.
POLLED = (
    InboundShipment.Status.SENT,
    InboundShipment.Status.IN_TRANSIT,
    InboundShipment.Status.RECEIVING,
)


def asn_polls_due(*, limit: int = 200) -> list[int]:
    """ASNs to ask their LSP about: sent to a provider without webhooks and not finished.

    The polling fallback for LSPs that push no receipt webhooks (Provider.supports_webhooks
    off); the beat runs it every LOGISTICS_SWEEP_SECONDS.
    """
    return list(
        InboundShipment.objects.filter(
            status__in=POLLED,
            warehouse__kind=Warehouse.Kind.LSP,
            warehouse__provider__supports_webhooks=False,
        )
        .exclude(provider_reference="")
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def asn_poll(*, inbound_id: int, adapter: ProviderAdapter | None = None) -> bool:
    """Ask the LSP for the ASN's status and receipts and apply what is new (each receipt
    once). Returns True when the ASN changed; provider errors are logged, never raised."""
    inbound = InboundShipment.objects.select_related("warehouse__provider").get(pk=inbound_id)
    provider = inbound.warehouse.provider
    if provider is None or not inbound.provider_reference or inbound.status not in POLLED:
        return False
    try:
        event = (adapter or adapter_for(provider)).fetch_inbound(inbound)
    except AdapterError as exc:
        logger.info("Polling ASN %s failed: %s", inbound.number, exc.message)
        return False
    if event is None:
        return False
    before = inbound.updated_at
    asn_events_apply(provider=provider, events=[event])
    return InboundShipment.objects.get(pk=inbound_id).updated_at != before


def asn_events_apply(*, provider: Provider, events: Sequence[InboundEvent]) -> int:
    """Apply an LSP's ASN events (from a webhook): progress, receipts into the ledger (each
    once, by the LSP's receipt id), `received` when complete (and `inbound.received`).

    Runs in the caller's transaction. Returns how many events named one of this
    provider's ASNs; the others are logged and skipped.
    """
    matched = 0
    for event in events:
        inbound = (
            InboundShipment.objects.filter(
                warehouse__provider_id=provider.pk, number=event.client_reference
            )
            .only("pk")
            .first()
        )
        if inbound is None and event.provider_reference:
            inbound = (
                InboundShipment.objects.filter(
                    warehouse__provider_id=provider.pk,
                    provider_reference=event.provider_reference,
                )
                .only("pk")
                .first()
            )
        if inbound is None:
            logger.warning(
                "%s reported on unknown ASN %s", provider.code, event.client_reference[:64]
            )
            continue
        matched += 1
        if event.status == "in_transit" and not event.receipts:
            receiving.inbound_mark_in_transit(inbound_id=inbound.pk)
            continue
        before = InboundShipment.objects.values_list("status", flat=True).get(pk=inbound.pk)
        after = receiving.inbound_receipts_from_lsp(
            inbound_id=inbound.pk,
            receipts=[
                LspReceipt(external_id=r.event_id, sku=r.sku, quantity=r.quantity)
                for r in event.receipts
            ],
            complete=event.complete,
        )
        if before != after.status:
            _publish_received(after)
    return matched
