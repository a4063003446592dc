"""Tracking ingestion: raw webhook log, batched processing, polling, lateness.

Applying updates (dedup, shipment roll-up, the hand-off to orders) lives in tracking_rollup.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from logistics import broker, hooks, sql
from logistics.adapters.base import AdapterError, TrackingUpdate
from logistics.adapters.registry import adapter_for
from logistics.models import InboundWebhook, Provider, Shipment, ShipmentStatusGroups
from logistics.services.asn import asn_events_apply
from logistics.services.tracking_rollup import (  # noqa: F401 - the module's public API
    MOVING,
    SHIPMENT_STATUS_FOR,
    TROUBLE,
    dedup_key_for,
    tracking_update_apply,
    tracking_updates_apply,
)

if TYPE_CHECKING:
    from redis.commands.core import Script

logger = logging.getLogger(__name__)

DRAIN_SLOT_KEY = "logistics:tracking-drain:{}"


# --- Receiving ------------------------------------------------------------------
def inbound_webhook_receive(*, provider: Provider, webhook_id: str, body: bytes) -> int | None:
    """Store a verified webhook's raw body and ask for a drain on commit.

    Returns the new row id, or None when this provider already sent this webhook id
    (a redelivery: nothing is stored or processed again).
    """
    inbound_id = sql.inbound_webhook_insert(
        provider_id=provider.pk,
        webhook_id=webhook_id[:128],
        body=body.decode("utf-8", errors="replace"),
    )
    if inbound_id is None:
        return None
    # Runs at once when there is no transaction (the webhook view), else after commit.
    transaction.on_commit(tracking_drain_request)
    return inbound_id


# Takes the first free drain slot (SET NX with an expiry) in one round trip; returns
# its number, or -1 when every slot is taken.
_TAKE_SLOT = """
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then return i - 1 end
end
return -1
"""
_take_slot: list[Script] = []  # the registered script (redis-py Script), created on first use


def _drain_slot_keys() -> list[str]:
    return [
        cache.make_and_validate_key(DRAIN_SLOT_KEY.format(slot))
        for slot in range(settings.TRACKING_DRAIN_SLOTS)
    ]


def _drain_slot_take() -> int | None:
    """The slot taken, None if all are taken; raises on a Redis failure."""
    keys = _drain_slot_keys()
    if not _take_slot:
        # One client per process: Django's cache builds a new one on every call,
        # which cost more than the round trip (the pool underneath is shared anyway).
        # RedisCache's own client (private API; BaseCache, as the stubs type `cache`, has none).
        client = cache._cache.get_client(keys[0], write=True)  # type: ignore[attr-defined]
        _take_slot.append(client.register_script(_TAKE_SLOT))
    script = _take_slot[0]
    slot = int(script(keys=keys, args=[settings.TRACKING_DRAIN_SLOT_SECONDS]))
    return None if slot < 0 else slot


def tracking_drain_request() -> None:
    """Make sure a drain task will look at every webhook committed before this call.

    A drain task frees its slot (a cache key) before it claims anything, so while a
    slot is taken its task has still to claim and will see this webhook: no new task
    is needed. At most TRACKING_DRAIN_SLOTS drain tasks wait in the queue at a time,
    instead of one task per webhook. A slot left taken by a lost message frees itself
    after TRACKING_DRAIN_SLOT_SECONDS; the sweeper is the safety net behind that.
    A broker outage does not fail the (committed) receipt (GuardedTask logs it); the
    sweeper enqueues the webhook later.
    """
    from logistics.tasks import tracking_drain_task

    if current_app.conf.task_always_eager:  # no queue to coalesce into (unit tests)
        tracking_drain_task.delay()
        return
    try:
        slot = _drain_slot_take()
    except Exception:  # redis.ConnectionError, TimeoutError...: the sweeper covers it
        logger.warning("drain slots unavailable; the sweeper will enqueue", exc_info=False)
        return
    if slot is not None:
        tracking_drain_task.delay(slot=slot)


def tracking_drain_slot_free(*, slot: int | None) -> None:
    if slot is not None:
        cache.delete(DRAIN_SLOT_KEY.format(slot))


# --- Processing -------------------------------------------------------------------
def inbound_webhooks_process(
    *,
    inbound_ids: Sequence[int] | None = None,
    limit: int | None = None,
    claimed: list[int] | None = None,
) -> dict[int, str]:
    """Claim stored webhooks and apply all their events in one transaction.

    With `inbound_ids`, those rows if they are pending or unmatched (a retry, the
    sweeper). Without, up to `limit` (TRACKING_BATCH_SIZE) fresh pending rows, oldest
    first; fresh means never tried (attempts 0): a webhook that failed is left to its
    own retries and cannot fail batch after batch. Rows another transaction holds are
    skipped (FOR UPDATE SKIP LOCKED), so concurrent drains never share a row. The ids
    claimed are appended to `claimed` before anything can fail.

    Returns {id: resulting status}: `processed`, or `unmatched` when none of a
    webhook's events names a known shipment (kept, retried by the sweeper for a while).
    Any error rolls the whole batch back and propagates; see inbound_webhooks_drain.
    """
    with transaction.atomic():
        batch = _webhooks_claimed(inbound_ids=inbound_ids, limit=limit)
        if claimed is not None:
            claimed.extend(row.pk for row in batch)
        if not batch:
            return {}
        parsed = [
            (row, adapter_for(row.provider).parse_webhook(row.body.encode())) for row in batch
        ]
        # ASN events (receipts at an LSP warehouse) come on the same webhook URL, in
        # webhooks that carry no tracking events.
        asn_events = {
            row.pk: []
            if updates
            else adapter_for(row.provider).parse_inbound_events(row.body.encode())
            for row, updates in parsed
        }
        items, statuses = _tracking_items(parsed, asn_events)
        tracking_updates_apply(items=items)
        for row in batch:
            if asn_events[row.pk] and asn_events_apply(
                provider=row.provider, events=asn_events[row.pk]
            ):
                statuses[row.pk] = InboundWebhook.Status.PROCESSED
        now = timezone.now()
        for status in {*statuses.values()}:
            InboundWebhook.objects.filter(
                pk__in=[pk for pk, s in statuses.items() if s == status]
            ).update(status=status, attempts=F("attempts") + 1, processed_at=now)
        return statuses


def _webhooks_claimed(
    *, inbound_ids: Sequence[int] | None, limit: int | None
) -> list[InboundWebhook]:
    """Lock the webhooks to process (see inbound_webhooks_process for which)."""
    rows = InboundWebhook.objects.select_for_update(
        # of=self: with the provider row locked too, concurrent webhooks of one
        # provider would skip each other.
        skip_locked=True,
        of=("self",),
    ).select_related("provider")
    if inbound_ids is not None:
        rows = rows.filter(
            pk__in=list(inbound_ids),
            status__in=[InboundWebhook.Status.PENDING, InboundWebhook.Status.UNMATCHED],
        ).order_by("pk")
    else:
        rows = rows.filter(status=InboundWebhook.Status.PENDING, attempts=0).order_by(
            "received_at", "pk"
        )[: limit or settings.TRACKING_BATCH_SIZE]
    return list(rows)


def _tracking_items(
    parsed: list[tuple[InboundWebhook, list[TrackingUpdate]]],
    asn_events: dict[int, list[Any]],
) -> tuple[list[tuple[int, TrackingUpdate]], dict[int, str]]:
    """The (shipment id, update) pairs of known shipments, and each webhook's status:
    processed, or unmatched when it names no known shipment and carries no ASN event."""
    pairs = [(row.provider, update) for row, updates in parsed for update in updates]
    found = iter(shipment_ids_for_updates(updates=pairs))
    items = []
    statuses: dict[int, str] = {}
    for row, updates in parsed:
        matched = 0
        for update in updates:
            shipment_id = next(found)
            if shipment_id is not None:
                matched += 1
                items.append((shipment_id, update))
        statuses[row.pk] = (
            InboundWebhook.Status.PROCESSED
            if matched or not (updates or asn_events[row.pk])
            else InboundWebhook.Status.UNMATCHED
        )
    return items, statuses


def inbound_webhook_process(*, inbound_id: int) -> str:
    """Parse one stored webhook and apply its events; safe to run any number of times.

    Returns the row's resulting status, or `skipped` when the row is already done or
    being processed elsewhere. Errors propagate (the transaction rolls back and the
    caller records the failure and retries).
    """
    return inbound_webhooks_process(inbound_ids=[inbound_id]).get(inbound_id, "skipped")


def inbound_webhook_failed(*, inbound_id: int, error: str) -> bool:
    """Record a failed processing attempt; returns True when the row is now parked.

    After TRACKING_WEBHOOK_MAX_ATTEMPTS failures the row is `failed`: a webhook that
    fails that often is poison (it fails the same way every time), so nothing retries
    it any more (processing, the sweeper and the drain take only pending and unmatched
    rows) and it shows in the ops exception queue with its error.
    """
    InboundWebhook.objects.filter(pk=inbound_id).update(
        attempts=F("attempts") + 1, error=error[:2000]
    )
    parked = InboundWebhook.objects.filter(
        pk=inbound_id,
        status__in=[InboundWebhook.Status.PENDING, InboundWebhook.Status.UNMATCHED],
        attempts__gte=settings.TRACKING_WEBHOOK_MAX_ATTEMPTS,
    ).update(status=InboundWebhook.Status.FAILED, processed_at=timezone.now())
    if parked:
        logger.error(
            "Inbound webhook %s parked as failed after %s attempts: %s",
            inbound_id,
            settings.TRACKING_WEBHOOK_MAX_ATTEMPTS,
            error[:200],
        )
    return bool(parked)


def inbound_webhooks_retry(*, inbound_ids: Sequence[int]) -> int:
    """Give parked (`failed`) webhooks a fresh start once their cause is fixed.

    They become pending with no attempts, so the next drain (asked for on commit)
    takes them like new ones. Returns how many were parked and are now pending.
    """
    count = InboundWebhook.objects.filter(
        pk__in=list(inbound_ids), status=InboundWebhook.Status.FAILED
    ).update(
        status=InboundWebhook.Status.PENDING,
        attempts=0,
        error="",
        swept_at=None,
        processed_at=None,
    )
    if count:
        transaction.on_commit(tracking_drain_request)
    return count


def inbound_webhooks_drain(*, max_seconds: float | None = None) -> int:
    """Process fresh pending webhooks batch after batch until none is left.

    A batch that fails is rolled back and its webhooks are retried one by one at once,
    so one bad webhook cannot hold the others back: the bad one gets its error and
    attempt recorded (visible in the admin), is left out of later batches and is
    retried by its own task with backoff, then by the sweeper. After `max_seconds`
    (TRACKING_DRAIN_SECONDS) the drain hands over to a fresh task if work is left.
    Returns the number of webhooks claimed.
    """
    budget = settings.TRACKING_DRAIN_SECONDS if max_seconds is None else max_seconds
    deadline = time.monotonic() + budget
    done = 0
    while True:
        claimed: list[int] = []
        try:
            inbound_webhooks_process(claimed=claimed)
        except Exception:
            if not claimed:
                raise
            logger.exception(
                "A batch of %s inbound webhooks failed; retrying them one by one", len(claimed)
            )
            for inbound_id in claimed:
                _process_alone(inbound_id=inbound_id)
        if not claimed:
            return done
        done += len(claimed)
        if time.monotonic() > deadline:
            tracking_drain_request()
            return done


def _process_alone(*, inbound_id: int) -> None:
    from logistics.tasks import tracking_process_webhook_task

    try:
        inbound_webhook_process(inbound_id=inbound_id)
    except Exception as exc:
        logger.exception("Processing inbound webhook %s failed", inbound_id)
        if inbound_webhook_failed(inbound_id=inbound_id, error=repr(exc)):
            return
        transaction.on_commit(
            partial(
                tracking_process_webhook_task.apply_async,
                kwargs={"inbound_id": inbound_id},
                countdown=1,
            )
        )


def shipment_id_for_update(*, provider: Provider, update: TrackingUpdate) -> int | None:
    """Our shipment an update is about: by our reference, the provider's id, or tracking no."""
    return shipment_ids_for_updates(updates=[(provider, update)])[0]


def shipment_ids_for_updates(
    *, updates: Sequence[tuple[Provider, TrackingUpdate]]
) -> list[int | None]:
    """`shipment_id_for_update` for many updates: at most three queries per provider."""
    found: list[int | None] = [None] * len(updates)
    by_provider: dict[int, list[int]] = {}
    for index, (provider, _) in enumerate(updates):
        by_provider.setdefault(provider.pk, []).append(index)
    for provider_id, indexes in by_provider.items():
        shipments = Shipment.objects.filter(provider_id=provider_id)
        tokens = {}
        for index in indexes:
            reference = updates[index][1].client_reference
            if reference:
                with contextlib.suppress(ValueError):
                    tokens[index] = uuid.UUID(reference)
        if tokens:
            pks = dict(
                shipments.filter(idempotency_token__in=set(tokens.values())).values_list(
                    "idempotency_token", "pk"
                )
            )
            for index, token in tokens.items():
                found[index] = pks.get(token)
        for field in ("provider_reference", "tracking_number"):
            wanted = {
                index: getattr(updates[index][1], field)
                for index in indexes
                if found[index] is None and getattr(updates[index][1], field)
            }
            if not wanted:
                continue
            candidates: dict[str, list[_Candidate]] = {}
            for row in (
                shipments.filter(**{f"{field}__in": set(wanted.values())})
                .order_by("-pk")
                .values_list(field, "pk", "created_at", "status", "last_event_at")
            ):
                candidates.setdefault(row[0], []).append(row[1:])
            for index, value in wanted.items():
                found[index] = _newest_plausible(
                    candidates.get(value, []), occurred_at=updates[index][1].occurred_at
                )
    return found


# (pk, created_at, status, last_event_at) of a shipment an event may be about.
_Candidate: TypeAlias = tuple[int, dt.datetime, str, "dt.datetime | None"]


def _newest_plausible(candidates: list[_Candidate], *, occurred_at: dt.datetime) -> int | None:
    """The newest shipment an event matched only by number can be about, or None.

    Providers recycle references and tracking numbers, so an event matched by number
    alone (no client reference) may belong to a newer parcel than the one we know by
    that number. It is never attached to a shipment created after the event, nor to
    one that finished more than TRACKING_NUMBER_REUSE_DAYS before it; among the rest
    the newest wins. `candidates` are (pk, created_at, status, last_event_at), newest
    first. An event with no plausible shipment is left unmatched (the webhook row says
    so and ops see it), never attached to the wrong parcel.
    """
    skew = dt.timedelta(days=1)  # provider clocks and time zones are not ours
    reuse_gap = dt.timedelta(days=settings.TRACKING_NUMBER_REUSE_DAYS)
    for pk, created_at, status, last_event_at in candidates:
        if occurred_at < created_at - skew:
            continue
        finished_long_ago = (
            status in ShipmentStatusGroups.FINAL
            and last_event_at is not None
            and occurred_at > last_event_at + reuse_gap
        )
        if not finished_long_ago:
            return pk
    return None


# --- Polling, sweeping, lateness ------------------------------------------------
def shipment_poll(*, shipment_id: int) -> int:
    """Ask the provider for the shipment's tracking and apply what is new.

    Returns the number of new events. With nothing new, the poll interval doubles (up
    to TRACKING_POLL_MAX_SECONDS) so that parcels that do not move cost little; a
    finished shipment is polled this once more (reconciliation) and then no longer.
    Provider errors are logged and the next poll is scheduled with the same backoff.
    """
    shipment = Shipment.objects.select_related("provider").get(pk=shipment_id)
    if not shipment.provider_reference:
        # Only while there is still no reference: a create recorded since the read above
        # has scheduled the reconciliation poll of a shipment whose webhooks overtook it.
        Shipment.objects.filter(pk=shipment_id, provider_reference="").update(next_poll_at=None)
        return 0
    try:
        updates = adapter_for(shipment.provider).fetch_tracking(shipment)
    except AdapterError as exc:
        # Keep the shipment scheduled (a finished one too: its reconciliation poll
        # has not happened yet) and try again after the backoff.
        logger.info("Tracking poll of shipment %s failed: %s", shipment_id, exc.message)
        _poll_backoff(shipment, include_final=True)
        return 0
    ordered = sorted(_about_this_parcel(shipment, updates), key=lambda u: u.occurred_at)
    stored = tracking_updates_apply(items=[(shipment_id, update) for update in ordered])
    new = sum(event is not None for event in stored)
    # A finished shipment has had its reconciliation poll: no more polls. Only if this
    # poll's answer covers the end, though: a webhook may finish the shipment while the
    # poll is under way, and then the events just before it (a lost webhook) are still
    # to be fetched by the reconciliation poll that webhook scheduled.
    final = ShipmentStatusGroups.FINAL
    if shipment.status in final or any(SHIPMENT_STATUS_FOR.get(u.status) in final for u in updates):
        Shipment.objects.filter(pk=shipment_id, status__in=final).update(next_poll_at=None)
    if not new:
        _poll_backoff(shipment, include_final=False)
    return new


def _about_this_parcel(shipment: Shipment, updates: list[TrackingUpdate]) -> list[TrackingUpdate]:
    """The polled updates that are about this shipment and not a newer parcel.

    A poll asks by provider reference, and a provider that recycled the reference (or
    lost its state) answers with another parcel's events. Those are dropped: an event
    naming another client reference, or one this shipment cannot have sent (the same
    rule as for webhooks matched by number, `_newest_plausible`).
    """
    candidate = [(shipment.pk, shipment.created_at, shipment.status, shipment.last_event_at)]
    kept = [
        update
        for update in updates
        if not _names_another_shipment(shipment, update)
        and _newest_plausible(candidate, occurred_at=update.occurred_at) == shipment.pk
    ]
    if len(kept) < len(updates):
        logger.warning(
            "Tracking poll of shipment %s: %s event(s) of another parcel under reference %s "
            "dropped",
            shipment.pk,
            len(updates) - len(kept),
            shipment.provider_reference,
        )
    return kept


def _names_another_shipment(shipment: Shipment, update: TrackingUpdate) -> bool:
    """True when the update carries one of our idempotency tokens, and not this one's.

    Only a UUID is ours (what dispatch sends as the reference); a provider's own kind of
    reference (e.g. `return:<key>` on a return label) says nothing either way.
    """
    try:
        token = uuid.UUID(update.client_reference)
    except ValueError:
        return False
    return token != shipment.idempotency_token


def _poll_backoff(shipment: Shipment, *, include_final: bool) -> None:
    interval = min(max(shipment.poll_interval_seconds, 1) * 2, settings.TRACKING_POLL_MAX_SECONDS)
    rows = Shipment.objects.filter(pk=shipment.pk, next_poll_at__isnull=False)
    if not include_final:
        rows = rows.exclude(status__in=ShipmentStatusGroups.FINAL)
    rows.update(
        poll_interval_seconds=interval,
        next_poll_at=timezone.now() + dt.timedelta(seconds=interval),
    )


def tracking_polls_due(*, limit: int = 200) -> list[int]:
    """Claim shipments whose poll is due (pushing their next poll out) and return their ids.

    Polls wait while the tracking queue holds more than a sweep's worth of messages:
    a poll is never urgent, and claiming polls that cannot run in time would only
    claim them again.
    """
    if broker.queue_backlog("tracking") > limit:
        return []
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Shipment.objects.select_for_update(skip_locked=True)
            .filter(next_poll_at__lte=now)
            .order_by("next_poll_at")
            .values_list("pk", "poll_interval_seconds")[:limit]
        )
        for pk, interval in rows:
            # Claimed: not due again until this poll had time to run and reschedule.
            Shipment.objects.filter(pk=pk).update(
                next_poll_at=now
                + dt.timedelta(seconds=max(interval, settings.LOGISTICS_ACK_TIMEOUT_SECONDS))
            )
    return [pk for pk, _ in rows]


def tracking_sweep(*, limit: int = 500) -> list[int]:
    """Claim inbound webhooks still unprocessed after a while (lost message, killed worker).

    Each row is handed out at most once per LOGISTICS_ACK_TIMEOUT_SECONDS (swept_at),
    and only while the tracking queue is drained (see logistics.broker), so a backlog
    that is merely queued is not flooded with duplicate tasks.
    """
    if broker.queue_backlog("tracking"):
        return []
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.LOGISTICS_ACK_TIMEOUT_SECONDS)
    day_ago = now - dt.timedelta(days=1)
    with transaction.atomic():
        ids = list(
            InboundWebhook.objects.select_for_update(skip_locked=True)
            .filter(
                # An unmatched webhook is retried a few times (its shipment may not be
                # committed yet); a pending one until it is processed.
                Q(status=InboundWebhook.Status.PENDING, attempts__lt=20)
                | Q(
                    status=InboundWebhook.Status.UNMATCHED,
                    received_at__gte=day_ago,
                    attempts__lt=5,
                ),
                Q(swept_at__isnull=True) | Q(swept_at__lte=cutoff),
                received_at__lte=cutoff,
            )
            .order_by("received_at")
            .values_list("pk", flat=True)[:limit]
        )
        InboundWebhook.objects.filter(pk__in=ids).update(swept_at=now)
    return ids


def inbound_webhooks_sweep() -> int:
    """The beat sweeper: hand out again the webhooks `tracking_sweep` found stuck.

    Fresh ones (never tried: a lost drain message, a worker killed mid-batch) go to one
    drain task, which takes them in batches; ones that failed before get their own
    retry task. Returns how many were handed out.
    """
    from logistics.tasks import tracking_drain_task, tracking_process_webhook_task

    ids = tracking_sweep()
    if not ids:
        return 0
    tried = set(
        InboundWebhook.objects.filter(pk__in=ids)
        .exclude(status=InboundWebhook.Status.PENDING, attempts=0)
        .values_list("pk", flat=True)
    )
    if len(tried) < len(ids):
        tracking_drain_task.delay()
    for inbound_id in ids:
        if inbound_id in tried:
            tracking_process_webhook_task.delay(inbound_id=inbound_id)
    return len(ids)


@transaction.atomic
def shipments_flag_late(*, now: dt.datetime | None = None) -> int:
    """Flag moving shipments with no event for longer than their service level allows.

    Once per lateness spell, orders records a tracking_exception OrderEvent (status
    late) and notifies the channel (logistics.hooks.shipment_progress). Returns the
    number of shipments flagged.
    """
    now = now or timezone.now()
    default_hours = 72
    candidates = (
        Shipment.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("service_level", "provider", "order__channel")
        .filter(late_flagged_at__isnull=True, dispatched_at__isnull=False)
        # A return label may wait days for the customer to drop the parcel off.
        .exclude(direction=Shipment.Direction.RETURN)
        .exclude(status__in=ShipmentStatusGroups.FINAL)
        .exclude(status__in=ShipmentStatusGroups.AWAITING_PROVIDER)
    )
    flagged = 0
    for shipment in candidates:
        hours = (
            shipment.service_level.max_transit_hours if shipment.service_level else default_hours
        )
        last = shipment.last_event_at or shipment.dispatched_at
        if last is None or last > now - dt.timedelta(hours=hours):  # None: filtered out above
            continue
        shipment.late_flagged_at = now
        shipment.save(update_fields=["late_flagged_at", "updated_at"])
        hooks.shipment_progress.impl.shipment_trouble_record(
            shipment=shipment, status="late", description=f"No tracking event for {hours} h."
        )
        flagged += 1
    return flagged
