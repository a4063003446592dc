"""Channel connector runs: pull orders into intake, push fulfilments, cancellations and
stock back, with backoff and a circuit breaker around the remote (docs/channels.md).

Nothing lost, nothing doubled: each remote order is taken in its own transaction that
also moves the cursor, so a crash between two orders resumes after the last one
committed; intake's unique external reference per channel (the remote id) turns a
re-pull into a no-op; an order that cannot be mapped goes on the exception list and
the cursor moves past it (it is taken again when the shop changes the order).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from core.problems import flatten_errors
from inventory.models import StockLevel
from inventory.selectors import stock_available_for_channel
from logistics.models import Shipment
from orders.models import Order
from orders.services.intake import order_create
from partners.connectors.base import (
    Connector,
    ConnectorError,
    Fulfilment,
    OrdersCursor,
    RemoteOrder,
)
from partners.connectors.registry import connector_for
from partners.models import ChannelConnector, ConnectorException, ConnectorOrder

logger = logging.getLogger(__name__)

# Orders that count as shipped for the shop: every unit left (and maybe arrived since).
SHIPPED_STATUSES = (
    Order.Status.SHIPPED,
    Order.Status.PARTIALLY_DELIVERED,
    Order.Status.DELIVERED,
    Order.Status.PARTIALLY_RETURNED,
    Order.Status.RETURNED,
)
PUSH_BATCH = 100
LEASE = dt.timedelta(minutes=10)
ACTOR = "connector:{kind}"


@dataclass
class RunResult:
    """What one run did; `skipped` names why nothing was tried (lease, backoff, breaker)."""

    connector_id: int
    skipped: str = ""
    created: int = 0
    already_present: int = 0
    exceptions: int = 0
    fulfilments_pushed: int = 0
    cancellations_pushed: int = 0
    stock_pushed: int = 0
    error: str = ""
    breaker: str = "closed"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- backoff and circuit breaker ------------------------------------------------------


def _backoff_seconds(failures: int, retry_after: float | None) -> float:
    base = float(settings.CHANNEL_CONNECTOR_RETRY_BASE_SECONDS)
    ceiling = float(settings.CHANNEL_CONNECTOR_RETRY_MAX_SECONDS)
    return max(min(base * 2.0 ** max(0, failures - 1), ceiling), retry_after or 0.0)


def connector_failure_record(*, connector: ChannelConnector, error: ConnectorError) -> None:
    """Count a failed run: back off exponentially (at least the remote's Retry-After) and
    open the breaker after CHANNEL_CONNECTOR_FAILURE_THRESHOLD failures in a row (a failed
    half-open probe opens it again at once)."""
    now = timezone.now()
    was_open = connector.open_until is not None
    failures = connector.consecutive_failures + 1
    connector.consecutive_failures = failures
    connector.next_attempt_at = now + dt.timedelta(
        seconds=_backoff_seconds(failures, error.retry_after)
    )
    if was_open or failures >= settings.CHANNEL_CONNECTOR_FAILURE_THRESHOLD:
        connector.open_until = now + dt.timedelta(
            seconds=settings.CHANNEL_CONNECTOR_COOLDOWN_SECONDS
        )
    connector.last_error = f"{now:%Y-%m-%d %H:%M:%S} UTC: {error}"[:2000]
    ChannelConnector.objects.filter(pk=connector.pk).update(
        consecutive_failures=connector.consecutive_failures,
        next_attempt_at=connector.next_attempt_at,
        open_until=connector.open_until,
        last_error=connector.last_error,
        updated_at=now,
    )
    logger.warning(
        "connector.failed",
        extra={
            "connector": connector.pk,
            "failures": failures,
            "breaker": connector.breaker_state,
            "error": str(error),
        },
    )


def connector_success_record(*, connector: ChannelConnector) -> None:
    """A run went through: close the breaker and forget the failures."""
    now = timezone.now()
    connector.consecutive_failures = 0
    connector.next_attempt_at = None
    connector.open_until = None
    connector.last_success_at = now
    ChannelConnector.objects.filter(pk=connector.pk).update(
        consecutive_failures=0,
        next_attempt_at=None,
        open_until=None,
        last_success_at=now,
        updated_at=now,
    )


def _claim(*, connector_id: int, force: bool) -> ChannelConnector | None:
    """Take the run lease; None when another run holds it, or (unless `force`) while
    backing off or while the breaker is open. An open breaker whose cool-down passed
    is half-open: this run is its probe."""
    now = timezone.now()
    due = Q(is_active=True) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    if not force:
        due &= Q(open_until__isnull=True) | Q(open_until__lte=now)
        due &= Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claimed = ChannelConnector.objects.filter(due, pk=connector_id).update(
        lease_until=now + LEASE, last_run_at=now
    )
    if not claimed:
        return None
    return ChannelConnector.objects.select_related("channel").get(pk=connector_id)


def connector_run(
    *, connector_id: int, force: bool = False, client: Connector | None = None
) -> RunResult:
    """One run of a connector: pull new orders, push fulfilments, cancellations, stock.

    Safe to run twice and concurrently (a lease lets one run at a time). A remote
    failure stops the run, is counted for backoff and the breaker, and is returned in
    `error`; what committed before it stays (each step is idempotent). `force` (the
    admin's "run now") ignores backoff and an open breaker.
    """
    result = RunResult(connector_id=connector_id)
    connector = _claim(connector_id=connector_id, force=force)
    if connector is None:
        current = ChannelConnector.objects.filter(pk=connector_id).first()
        result.skipped = "inactive" if current is None or not current.is_active else "not due"
        if current is not None:
            result.breaker = current.breaker_state
        return result
    try:
        remote = client or connector_for(connector)
        if connector.pull_orders:
            connector_orders_pull(connector=connector, client=remote, result=result)
        if connector.push_fulfilments:
            result.fulfilments_pushed = connector_fulfilments_push(
                connector=connector, client=remote
            )
        if connector.push_cancellations:
            result.cancellations_pushed = connector_cancellations_push(
                connector=connector, client=remote
            )
        if connector.push_stock:
            result.stock_pushed = connector_stock_push(connector=connector, client=remote)
    except ConnectorError as exc:
        connector_failure_record(connector=connector, error=exc)
        result.error = str(exc)
    else:
        connector_success_record(connector=connector)
    finally:
        ChannelConnector.objects.filter(pk=connector.pk).update(lease_until=None)
    result.breaker = connector.breaker_state
    return result


# --- pull ----------------------------------------------------------------------------


def connector_orders_pull(
    *, connector: ChannelConnector, client: Connector, result: RunResult
) -> None:
    """Take every remote order after the cursor, one transaction each (see the module)."""
    cursor = OrdersCursor(connector.orders_modified_after, connector.orders_last_id)
    for remote in client.orders_since(
        cursor=cursor,
        service_levels=connector.service_level_map or {},
        default_level=connector.default_service_level,
    ):
        outcome = connector_order_take(connector=connector, remote=remote)
        if outcome == "created":
            result.created += 1
        elif outcome == "present":
            result.already_present += 1
        else:
            result.exceptions += 1


def _validated(payload: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    # The partner API's own input rules, so a pulled order meets exactly what a posted
    # one must (formats, ISO codes, currency places, placed_at window).
    from partners.api.orders import OrderListCreateApi

    serializer = OrderListCreateApi.InputSerializer(data=payload)
    if serializer.is_valid():
        return dict(serializer.validated_data), []
    return None, flatten_errors(serializer.errors)


def _cursor_advance(*, connector: ChannelConnector, remote: RemoteOrder) -> None:
    ChannelConnector.objects.filter(pk=connector.pk).update(
        orders_modified_after=remote.modified_at, orders_last_id=remote.remote_id
    )
    connector.orders_modified_after = remote.modified_at
    connector.orders_last_id = remote.remote_id


def _exception_resolve(*, connector: ChannelConnector, remote: RemoteOrder) -> None:
    ConnectorException.objects.filter(
        connector=connector, remote_id=remote.remote_id, resolved_at__isnull=True
    ).update(resolved_at=timezone.now())


def connector_order_take(*, connector: ChannelConnector, remote: RemoteOrder) -> str:
    """Create the order through intake, or record why not; move the cursor past it.

    Returns "created", "present" (taken before: nothing new) or "exception".
    """
    errors = list(remote.problems)
    data = None
    if not errors:
        data, errors = _validated(remote.payload)
    if data is not None:
        try:
            with transaction.atomic():
                order = order_create(
                    channel=connector.channel,
                    actor=ACTOR.format(kind=connector.kind),
                    **data,
                )
                ConnectorOrder.objects.create(
                    connector=connector,
                    order=order,
                    remote_id=remote.remote_id,
                    remote_number=remote.number,
                )
                _exception_resolve(connector=connector, remote=remote)
                _cursor_advance(connector=connector, remote=remote)
        except Conflict:
            # The channel has it already (an earlier pull, or entered by hand).
            with transaction.atomic():
                _exception_resolve(connector=connector, remote=remote)
                _cursor_advance(connector=connector, remote=remote)
            return "present"
        except ValidationFailed as exc:
            errors = exc.errors or [{"field": "", "message": exc.detail}]
        else:
            return "created"
    reason = "; ".join(f"{e.get('field') or 'order'}: {e.get('message')}" for e in errors)
    with transaction.atomic():
        ConnectorException.objects.update_or_create(
            connector=connector,
            remote_id=remote.remote_id,
            defaults={
                "remote_number": remote.number,
                "reason": reason[:2000],
                "errors": errors,
                "remote_modified_at": remote.modified_at,
                "resolved_at": None,
            },
        )
        _cursor_advance(connector=connector, remote=remote)
    return "exception"


# --- push ----------------------------------------------------------------------------


def connector_fulfilments_push(*, connector: ChannelConnector, client: Connector) -> int:
    """Tell the shop about every shipped order not yet told: the tracking in a note (once)
    and the status `completed`. Returns how many were pushed."""
    due = list(
        ConnectorOrder.objects.filter(
            connector=connector,
            fulfilment_pushed_at__isnull=True,
            order__status__in=SHIPPED_STATUSES,
        )
        .select_related("order")
        .order_by("pk")[:PUSH_BATCH]
    )
    tracking: dict[int, list[tuple[str, str]]] = {}
    shipments = (
        Shipment.objects.filter(order_id__in=[row.order_id for row in due])
        .exclude(tracking_number="")
        .exclude(status=Shipment.Status.CANCELLED)
        .select_related("provider")
        .order_by("pk")
    )
    for shipment in shipments:
        tracking.setdefault(shipment.order_id, []).append(
            (shipment.tracking_number, shipment.tracking_url)
        )
    for row in due:
        pushed = client.fulfilment_push(
            fulfilment=Fulfilment(
                remote_id=row.remote_id,
                order_number=row.order.number,
                tracking=tracking.get(row.order_id, []),
            ),
            note_id=row.fulfilment_note_id,
        )
        ConnectorOrder.objects.filter(pk=row.pk).update(
            fulfilment_note_id=pushed.note_id, fulfilment_pushed_at=timezone.now()
        )
    return len(due)


def connector_cancellations_push(*, connector: ChannelConnector, client: Connector) -> int:
    """Tell the shop about every cancelled order not yet told. Returns how many."""
    due = list(
        ConnectorOrder.objects.filter(
            connector=connector,
            cancellation_pushed_at__isnull=True,
            order__status=Order.Status.CANCELLED,
        ).order_by("pk")[:PUSH_BATCH]
    )
    for row in due:
        client.cancellation_push(remote_id=row.remote_id)
        ConnectorOrder.objects.filter(pk=row.pk).update(cancellation_pushed_at=timezone.now())
    return len(due)


def connector_stock_changed_skus(
    *, connector: ChannelConnector, since: dt.datetime | None
) -> list[str]:
    """SKUs stocked in the channel's warehouses whose level changed after `since` (all
    of them when None)."""
    levels = StockLevel.objects.filter(warehouse__in=connector.channel.warehouses.all())
    if since is not None:
        levels = levels.filter(updated_at__gt=since)
    return sorted(set(levels.values_list("product__sku", flat=True)))


def connector_stock_push(*, connector: ChannelConnector, client: Connector) -> int:
    """Set the shop's stock of every SKU whose level changed since the last push to what
    the channel can sell (on hand minus reserved over its warehouses). Returns how many
    SKUs the shop took. The mark moves to the time read only after the push succeeded,
    so a failed push is repeated whole and a change during it is pushed next time."""
    started = timezone.now()
    skus = connector_stock_changed_skus(connector=connector, since=connector.stock_pushed_at)
    if skus:
        available = stock_available_for_channel(channel=connector.channel, skus=skus)
        quantities = {sku: max(0, int(available.get(sku, 0))) for sku in skus}
        pushed = client.stock_push(quantities=quantities)
    else:
        pushed = {}
    ChannelConnector.objects.filter(pk=connector.pk).update(stock_pushed_at=started)
    connector.stock_pushed_at = started
    return len(pushed)


def connectors_due() -> list[int]:
    """Active connectors whose backoff and breaker let them run now."""
    now = timezone.now()
    return list(
        ChannelConnector.objects.filter(is_active=True)
        .filter(Q(open_until__isnull=True) | Q(open_until__lte=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .values_list("pk", flat=True)
    )


@transaction.atomic
def connector_exception_resolve(*, exception: ConnectorException) -> None:
    """Ops handled the order by hand (or fixed the product): off the open list."""
    ConnectorException.objects.filter(pk=exception.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )
