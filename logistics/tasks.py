"""Celery tasks: thin wrappers over logistics services. All are safe to run twice.

Routing (config/settings.py CELERY_TASK_ROUTES): dispatch_* → `dispatch` queue,
tracking_* → `tracking` queue, the rest → `default`.
"""

from __future__ import annotations

import logging
from functools import partial

from celery import shared_task
from django.db import transaction

from logistics.services import asn, dispatch, partner_webhooks, tracking, webhook_endpoints

logger = logging.getLogger(__name__)

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(bind=True, max_retries=None, **TASK_OPTIONS)
def dispatch_shipment_task(self, *, shipment_id: int) -> str:
    result = dispatch.shipment_dispatch(shipment_id=shipment_id)
    if result.retry_in is not None:
        # Attempts are counted on the outbox row, not by Celery: a killed worker or a
        # lost message cannot reset or skip them.
        raise self.retry(countdown=result.retry_in)
    return str(result.outcome)


@shared_task(**TASK_OPTIONS)
def dispatch_fanout_task(*, shipment_ids: list[int]) -> int:
    """A dispatch task per shipment, published here instead of in the request that
    created them (logistics.services.shipments._dispatch_enqueue_many)."""
    for shipment_id in shipment_ids:
        dispatch_shipment_task.delay(shipment_id=shipment_id)
    return len(shipment_ids)


@shared_task(bind=True, max_retries=8, **TASK_OPTIONS)
def shipment_cancel_at_provider_task(self, *, shipment_id: int) -> str:
    result = dispatch.shipment_provider_cancel(
        shipment_id=shipment_id, attempt=self.request.retries + 1
    )
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return str(result.outcome)


@shared_task(**TASK_OPTIONS)
def dispatch_sweep_task() -> int:
    return dispatch.dispatch_sweep()


@shared_task(bind=True, max_retries=8, **TASK_OPTIONS)
def tracking_drain_task(self, *, slot: int | None = None) -> int:
    # Free the slot before claiming: a webhook committed from now on either finds the
    # slot free and enqueues another drain, or is claimed by this one.
    tracking.tracking_drain_slot_free(slot=slot)
    try:
        return tracking.inbound_webhooks_drain()
    except Exception as exc:
        logger.exception("Draining inbound webhooks failed")
        raise self.retry(countdown=min(2**self.request.retries, 60)) from exc


@shared_task(bind=True, max_retries=8, **TASK_OPTIONS)
def tracking_process_webhook_task(self, *, inbound_id: int) -> str:
    try:
        return tracking.inbound_webhook_process(inbound_id=inbound_id)
    except Exception as exc:
        logger.exception("Processing inbound webhook %s failed", inbound_id)
        if tracking.inbound_webhook_failed(inbound_id=inbound_id, error=repr(exc)):
            return "failed"  # parked for a person (ops exception queue), not retried
        raise self.retry(countdown=min(2**self.request.retries, 60)) from exc


@shared_task(**TASK_OPTIONS)
def tracking_sweep_task() -> int:
    return tracking.inbound_webhooks_sweep()


@shared_task(**TASK_OPTIONS)
def tracking_poll_shipment_task(*, shipment_id: int) -> int:
    return tracking.shipment_poll(shipment_id=shipment_id)


@shared_task(**TASK_OPTIONS)
def tracking_poll_due_task() -> int:
    ids = tracking.tracking_polls_due()
    for shipment_id in ids:
        transaction.on_commit(partial(tracking_poll_shipment_task.delay, shipment_id=shipment_id))
    return len(ids)


@shared_task(**TASK_OPTIONS)
def tracking_flag_late_task() -> int:
    return tracking.shipments_flag_late()


@shared_task(bind=True, max_retries=None, **TASK_OPTIONS)
def partner_webhook_send_task(self, *, delivery_id: int) -> None:
    retry_in = partner_webhooks.partner_webhook_send(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(**TASK_OPTIONS)
def partner_webhook_sweep_task() -> int:
    ids = partner_webhooks.partner_webhooks_due()
    for delivery_id in ids:
        partner_webhook_send_task.delay(delivery_id=delivery_id)
    return len(ids)


@shared_task(**TASK_OPTIONS)
def webhook_endpoints_disable_failing_task() -> int:
    """Periodic: disable endpoints failing for PARTNER_WEBHOOK_DISABLE_AFTER_HOURS."""
    return len(webhook_endpoints.webhook_endpoints_disable_failing())


@shared_task(**TASK_OPTIONS)
def lsp_snapshots_fetch_task() -> int:
    """Periodic: fetch every LSP warehouse's stock snapshot; returns snapshots with differences."""
    from logistics.services.stock_reconciliation import snapshots_fetch_from_lsps

    return len(snapshots_fetch_from_lsps())


@shared_task(bind=True, max_retries=None, **TASK_OPTIONS)
def dispatch_asn_task(self, *, inbound_id: int) -> str:
    """Send an ASN to its LSP (the ASN outbox); attempts are counted on the outbox row."""
    result = asn.asn_send(inbound_id=inbound_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return str(result.outcome)


@shared_task(**TASK_OPTIONS)
def dispatch_asn_sweep_task() -> int:
    return asn.asn_sweep()


@shared_task(**TASK_OPTIONS)
def tracking_asn_poll_task(*, inbound_id: int) -> bool:
    return asn.asn_poll(inbound_id=inbound_id)


@shared_task(**TASK_OPTIONS)
def tracking_asn_poll_due_task() -> int:
    """Periodic: ask poll-only LSPs about the ASNs they are receiving."""
    ids = asn.asn_polls_due()
    for inbound_id in ids:
        tracking_asn_poll_task.delay(inbound_id=inbound_id)
    return len(ids)
