"""The provider scorecard (issue 19, item 5): every figure from a small hand-made data set,
the daily aggregate job recomputing a day idempotently, the page's fixed query budget,
and the CSV being the table."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import threading
from decimal import Decimal
from html import unescape

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from economics import histogram
from economics.models import Dispute, Invoice, ProviderDay, ShipmentCost, SweepCursor
from economics.selectors import Money, scorecard
from economics.services.scorecard import (
    LOCK,
    day_bounds,
    provider_day_compute,
    provider_days_refresh,
)
from inventory.models import InboundLine, InboundReceipt, InboundShipment
from logistics.models import InboundWebhook, Shipment, TrackingEvent
from returns.models import ReturnRequest
from tests.economics.test_expected_cost import active_card
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.logistics.factories import (
    ProviderFactory,
    ServiceLevelFactory,
    ShipmentFactory,
    TrackingEventFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

DAY = dt.date(2026, 11, 10)
START, _ = day_bounds(DAY)
H = dt.timedelta(hours=1)


@pytest.fixture
def alpha():
    return ProviderFactory(code="alpha")


def shipment(provider, *, dispatched=None, delivered=None, transit_hours=48, **fields):
    level = ServiceLevelFactory(
        provider=provider, code=f"t{transit_hours}", max_transit_hours=transit_hours
    )
    return ShipmentFactory(
        provider=provider,
        service_level=level if transit_hours else None,
        status=fields.pop("status", Shipment.Status.DELIVERED if delivered else "dispatched"),
        dispatched_at=dispatched,
        delivered_at=delivered,
        **fields,
    )


def event(shipment, status, at, *, received=None, provider_status=""):
    made = TrackingEventFactory(
        shipment=shipment, status=status, occurred_at=at, provider_status=provider_status
    )
    TrackingEvent.objects.filter(pk=made.pk).update(received_at=received or at)
    return made


def row(provider):
    provider_day_compute(day=DAY)
    (found,) = [r for r in scorecard(first=DAY, last=DAY).rows if r.provider_id == provider.pk]
    return found


def exact(values, q):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_on_time_is_judged_against_the_transit_time_and_shows_its_sample(alpha):
    dispatched = START - 30 * H
    shipment(alpha, dispatched=dispatched, delivered=START + 10 * H)  # 40 h of 48: on time
    shipment(alpha, dispatched=dispatched, delivered=START + 12 * H)  # 42 h: on time
    shipment(alpha, dispatched=dispatched, delivered=START + 20 * H, transit_hours=24)  # late
    shipment(alpha, dispatched=dispatched, delivered=START + 1 * H, transit_hours=0)  # no promise
    shipment(alpha, dispatched=dispatched, delivered=START - 1 * H)  # delivered the day before
    shipment(alpha, dispatched=dispatched, delivered=START + 2 * H, direction="return")

    found = row(alpha)

    assert (found.on_time, found.on_time_sample, found.on_time_percent) == (2, 3, 66.7)
    day = ProviderDay.objects.get(provider=alpha, day=DAY)
    assert day.delivered == 4


def test_transit_percentiles_from_the_histogram_are_within_the_stated_error(alpha):
    minutes = [5, 12, 30, 45, 60, 90, 120, 180, 240, 600, 700, 800, 900, 1000, 1200, 1440]
    dispatched = START + 1 * H
    for offset in minutes:
        made = shipment(alpha, dispatched=dispatched)
        event(made, "pre_transit", dispatched + dt.timedelta(minutes=1))  # a label is no scan
        event(made, "in_transit", dispatched - dt.timedelta(minutes=30))  # before dispatch
        event(made, "in_transit", dispatched + dt.timedelta(minutes=offset))
        event(made, "in_transit", dispatched + dt.timedelta(minutes=offset + 600))
    shipment(alpha, dispatched=dispatched)  # not scanned yet: in the count, not the times

    found = row(alpha)

    seconds = [m * 60 for m in minutes]
    assert found.shipments == len(minutes) + 1
    assert histogram.count(found.to_first_scan) == len(minutes)
    for q in (0.5, 0.9):
        read = histogram.percentile(found.to_first_scan, q)
        assert read == pytest.approx(exact(seconds, q), rel=histogram.RELATIVE_ERROR)
    assert histogram.RELATIVE_ERROR < 0.045


def test_first_scan_to_delivered_is_counted_on_the_delivery_day(alpha):
    for hours in (10, 20, 30, 40):
        made = shipment(alpha, dispatched=START - 50 * H, delivered=START + 5 * H)
        event(made, "in_transit", START + 5 * H - hours * H)

    found = row(alpha)

    read = histogram.percentile(found.to_delivered, 0.5)
    assert read == pytest.approx(20 * 3600, rel=histogram.RELATIVE_ERROR)
    assert histogram.percentile(found.to_delivered, 0.9) == pytest.approx(
        40 * 3600, rel=histogram.RELATIVE_ERROR
    )


def test_exception_rate_is_per_reason_and_counts_a_shipment_once_per_reason(alpha):
    made = [shipment(alpha, dispatched=START + H) for _ in range(4)]
    event(made[0], "exception", START + 3 * H, provider_status="ADDRESS_UNKNOWN")
    event(made[0], "exception", START + 4 * H, provider_status="ADDRESS_UNKNOWN")
    event(made[1], "exception", START + 3 * H, provider_status="DAMAGED")
    event(made[2], "failed_attempt", START + 5 * H)
    event(made[3], "exception", START - 3 * H, provider_status="DAMAGED")  # another day

    found = row(alpha)

    assert found.exception_rates() == [
        ("exception: ADDRESS_UNKNOWN", 1, 25.0),
        ("exception: DAMAGED", 1, 25.0),
        ("failed_attempt", 1, 25.0),
    ]
    assert found.exception_percent == 75.0


def test_dispatch_failure_rate_is_over_the_outbound_shipments_created_that_day(alpha):
    made = [shipment(alpha, status=status) for status in ("dispatched", "dispatched", "pending")]
    failed = shipment(alpha, status="dispatch_failed")
    other_day = shipment(alpha, status="dispatch_failed")
    Shipment.objects.filter(pk__in=[s.pk for s in [*made, failed]]).update(created_at=START + H)
    Shipment.objects.filter(pk=other_day.pk).update(created_at=START - H)

    found = row(alpha)

    assert (found.dispatch_failed, found.planned, found.dispatch_failure_percent) == (1, 4, 25.0)


def test_event_latency_and_refused_webhooks(alpha):
    made = shipment(alpha, dispatched=START - 5 * H)
    received = START + 8 * H
    for seconds in (30, 60, 120, 300, 3600):
        event(made, "in_transit", received - dt.timedelta(seconds=seconds), received=received)
    for number, status in enumerate(["processed", "processed", "failed", "unmatched"]):
        hook = InboundWebhook.objects.create(
            provider=alpha, webhook_id=f"wh-{number}", body="{}", status=status
        )
        InboundWebhook.objects.filter(pk=hook.pk).update(received_at=received)

    found = row(alpha)

    assert histogram.percentile(found.event_latency, 0.5) == pytest.approx(
        120, rel=histogram.RELATIVE_ERROR
    )
    assert histogram.percentile(found.event_latency, 0.95) == pytest.approx(
        3600, rel=histogram.RELATIVE_ERROR
    )
    assert (found.webhooks_refused, found.webhooks) == (1, 4)


def test_return_processing_time_runs_from_request_to_receipt_at_the_providers_site(alpha):
    sent = shipment(alpha, dispatched=START - 100 * H, delivered=START - 90 * H)
    site = sent.warehouse
    type(site).objects.filter(pk=site.pk).update(kind="3pl", provider=alpha)
    for hours in (24, 48, 72):
        request = ReturnRequest.objects.create(
            order=sent.order, original_shipment=sent, warehouse=site, currency="EUR"
        )
        ReturnRequest.objects.filter(pk=request.pk).update(
            created_at=START + 6 * H - hours * H, received_at=START + 6 * H, status="received"
        )

    found = row(alpha)

    assert found.returns_received == 3
    assert histogram.percentile(found.return_processing, 0.5) == pytest.approx(
        48 * 3600, rel=histogram.RELATIVE_ERROR
    )


def test_dock_to_stock_runs_from_the_first_receipt_to_the_closed_asn(alpha):
    site = WarehouseFactory(code="alpha-site", kind="3pl", provider=alpha)
    own = WarehouseFactory(code="own-site")
    product = ProductFactory()
    for number, (warehouse, hours, status) in enumerate(
        [(site, 2, "received"), (site, 6, "received"), (site, 8, "received"),
         (site, 1, "receiving"), (own, 1, "received")]
    ):  # fmt: skip
        inbound = InboundShipment.objects.create(
            reference=f"ASN-{number}", warehouse=warehouse, status=status
        )
        line = InboundLine.objects.create(inbound=inbound, product=product, expected_quantity=5)
        for offset in (hours, hours / 2):  # the earlier receipt is the arrival
            receipt = InboundReceipt.objects.create(line=line, quantity=1)
            InboundReceipt.objects.filter(pk=receipt.pk).update(
                created_at=START + 10 * H - offset * H
            )
        if status == "received":
            InboundShipment.objects.filter(pk=inbound.pk).update(closed_at=START + 10 * H)

    found = row(alpha)

    assert histogram.count(found.dock_to_stock) == 3
    assert histogram.percentile(found.dock_to_stock, 0.5) == pytest.approx(
        6 * 3600, rel=histogram.RELATIVE_ERROR
    )


def test_expected_cost_per_shipment_and_per_order(alpha):
    card = active_card(alpha)
    first = shipment(alpha, dispatched=START + H)
    second = shipment(alpha, dispatched=START + H, order=first.order)
    third = shipment(alpha, dispatched=START + H)
    unpriced = shipment(alpha, dispatched=START + H)
    for made, total in ((first, "10.00"), (second, "20.00"), (third, "30.00")):
        ShipmentCost.objects.create(
            shipment=made, stage="dispatched", card=card, currency="EUR", total=Decimal(total),
            priced_at=START,
        )  # fmt: skip
    ShipmentCost.objects.create(
        shipment=unpriced, stage="dispatched", problems=["no card"], priced_at=START
    )

    found = row(alpha)

    assert found.cost_totals == (Money("EUR", Decimal("60.0000")),)
    assert found.cost_per_shipment() == (Money("EUR", Decimal("20.00")),)
    assert found.cost_per_order() == (Money("EUR", Decimal("30.00")),)


def test_invoiced_against_expected_and_open_disputes_for_invoices_overlapping_the_period(alpha):
    def invoice(number, start, end, invoiced, expected):
        return Invoice.objects.create(
            provider=alpha, number=number, currency="EUR", period_start=start, period_end=end,
            invoiced_total=Decimal(invoiced), expected_total=Decimal(expected),
        )  # fmt: skip

    inside = invoice("A", dt.date(2026, 11, 1), dt.date(2026, 11, 30), "110.00", "100.00")
    overlapping = invoice("B", dt.date(2026, 10, 1), dt.date(2026, 11, 3), "50.00", "50.00")
    outside = invoice("C", dt.date(2026, 12, 1), dt.date(2026, 12, 31), "999.00", "1.00")
    for bill, status in [
        (inside, "open"),
        (inside, "disputed"),
        (inside, "credited"),
        (overlapping, "open"),
        (outside, "open"),
    ]:
        Dispute.objects.create(invoice=bill, kind="overcharged", difference=1, status=status)

    (found,) = scorecard(first=dt.date(2026, 11, 1), last=dt.date(2026, 11, 30)).rows

    assert found.invoiced == (Money("EUR", Decimal("160.00")),)
    assert found.invoiced_expected == (Money("EUR", Decimal("150.00")),)
    assert (found.invoices, found.open_disputes) == (2, 3)


def _day_rows():
    return list(ProviderDay.objects.order_by("provider_id").values().order_by("provider_id"))


def test_the_aggregate_job_is_idempotent_and_recomputes_a_day(alpha):
    beta = ProviderFactory(code="beta")
    shipment(alpha, dispatched=START + H, delivered=START + 30 * H)
    shipment(beta, dispatched=START + 2 * H)
    late = shipment(beta, dispatched=START + 3 * H)

    assert provider_day_compute(day=DAY) == 2
    before = [{k: v for k, v in r.items() if k not in ("id", "computed_at")} for r in _day_rows()]
    assert provider_day_compute(day=DAY) == 2
    again = [{k: v for k, v in r.items() if k not in ("id", "computed_at")} for r in _day_rows()]
    assert again == before
    assert [r["shipments"] for r in before] == [1, 2]

    Shipment.objects.filter(pk=late.pk).update(dispatched_at=START - 3 * H)
    provider_day_compute(day=DAY)

    assert ProviderDay.objects.get(provider=beta, day=DAY).shipments == 1
    assert ProviderDay.objects.filter(day=DAY).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_run_while_another_holds_the_lock_skips_and_writes_nothing(alpha):
    shipment(alpha, dispatched=START + H)
    SweepCursor.objects.get_or_create(name=LOCK)
    locked, release, results = threading.Event(), threading.Event(), []

    def other_run():
        try:
            with transaction.atomic():
                SweepCursor.objects.select_for_update().get(name=LOCK)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=other_run)
    holder.start()
    assert locked.wait(10)
    try:
        results.append(provider_day_compute(day=DAY))
    finally:
        release.set()
        holder.join()

    assert results == [None]
    assert not ProviderDay.objects.exists()
    assert provider_day_compute(day=DAY) == 1


def test_beat_recomputes_today_and_yesterday_and_leaves_older_days(alpha, settings):
    settings.SCORECARD_RECOMPUTE_DAYS = 2
    today = timezone.localdate()
    now = timezone.now()
    shipment(alpha, dispatched=now - dt.timedelta(minutes=5))
    old = ProviderDay.objects.create(
        provider=alpha, day=today - dt.timedelta(days=2), shipments=7, computed_at=now
    )

    provider_days_refresh()

    assert ProviderDay.objects.get(provider=alpha, day=today).shipments == 1
    assert ProviderDay.objects.get(pk=old.pk).shipments == 7
    assert set(ProviderDay.objects.values_list("day", flat=True)) == {
        today,
        today - dt.timedelta(days=2),
    }


def test_backfill_command_prints_a_json_summary(alpha):
    shipment(alpha, dispatched=START + H)
    out = io.StringIO()

    call_command("scorecard_backfill", "--from", "2026-11-09", "--to", "2026-11-11", stdout=out)

    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (summary["days"], summary["rows"]) == (3, 1)
    assert ProviderDay.objects.get().day == DAY


# --- The page ---------------------------------------------------------------------------


def fill_days(providers, first, days):
    now = timezone.now()
    ProviderDay.objects.bulk_create(
        ProviderDay(
            provider=provider,
            day=first + dt.timedelta(days=i),
            shipments=100 + i,
            planned=100,
            dispatch_failed=2,
            delivered=90,
            on_time_sample=90,
            on_time=80 + (i % 10),
            to_first_scan={"90": 50, "100": 40},
            to_delivered={"120": 90},
            exceptions={"exception: DAMAGED": 3, "failed_attempt": 1},
            event_latency={"60": 200, "80": 10},
            webhooks=210,
            webhooks_refused=1,
            returns_received=5,
            return_processing={"130": 5},
            cost_totals={"EUR": "512.5000"},
            cost_shipments=100,
            cost_orders=95,
            computed_at=now,
        )  # fmt: skip
        for provider in providers
        for i in range(days)
    )


def page_queries(client, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("backoffice:scorecard"), params)
    assert response.status_code == 200
    return len(queries), response


def test_the_page_reads_a_fixed_number_of_queries_for_a_day_or_ninety(
    client, manager, django_assert_max_num_queries
):
    providers = [ProviderFactory(code=f"lsp{n}") for n in range(5)]
    first = dt.date(2026, 8, 1)
    fill_days(providers, first, 90)
    client.force_login(manager)
    one_day = {"period": "custom", "start": "2026-08-01", "end": "2026-08-01"}
    ninety = {"period": "custom", "start": "2026-08-01", "end": "2026-10-29"}

    small, _ = page_queries(client, **one_day)
    with django_assert_max_num_queries(small):
        large, response = page_queries(client, **ninety)

    assert small == large
    html = response.content.decode()
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox') == 4
    assert "lsp4" in html
    (card_row,) = [r for r in response.context["card"].rows if r.provider == "lsp0"]
    assert card_row.shipments == sum(100 + i for i in range(90))


def table_cells(html):
    body = re.search(
        r'<table class="bo-table small" id="scorecard-table">(.*?)</table>', html, re.S
    )
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [
        [unescape(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in rows
    ]


def test_the_csv_is_the_table(client, manager):
    providers = [ProviderFactory(code=code) for code in ("alpha", "beta")]
    fill_days(providers, dt.date(2026, 11, 1), 10)
    client.force_login(manager)
    params = {"period": "custom", "start": "2026-11-01", "end": "2026-11-30"}

    _, response = page_queries(client, **params)
    exported = client.get(reverse("backoffice:scorecard_csv"), params)

    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows == table_cells(response.content.decode())
    assert rows[1][:4] == ["alpha", str(sum(100 + i for i in range(10))), "93.9 %", "900"]


def test_one_provider_and_a_named_period(client, manager):
    providers = [ProviderFactory(code=code) for code in ("alpha", "beta")]
    today = timezone.localdate()
    fill_days(providers, today - dt.timedelta(days=40), 41)
    client.force_login(manager)

    _, response = page_queries(client, provider="beta", period="last_week")

    card = response.context["card"]
    monday = today - dt.timedelta(days=today.weekday())
    assert (card.first, card.last) == (monday - dt.timedelta(days=7), monday - dt.timedelta(days=1))
    assert [r.provider for r in card.rows] == ["beta"]


def test_a_custom_period_without_an_end_is_refused_and_this_month_is_shown(client, manager):
    client.force_login(manager)

    _, response = page_queries(client, period="custom", start="2026-11-01")

    assert "A custom period needs both From and To." in response.content.decode()
    assert response.context["card"].first == timezone.localdate().replace(day=1)


def test_customer_service_may_not_see_the_scorecard_and_anonymous_callers_log_in(client, agent):
    for url in (reverse("backoffice:scorecard"), reverse("backoffice:scorecard_csv")):
        assert client.get(url)["Location"].startswith("/admin/login/")
    client.force_login(agent)
    assert client.get(reverse("backoffice:scorecard")).status_code == 403
    assert client.get(reverse("backoffice:scorecard_csv")).status_code == 403
