"""What-if: a rule set replayed over past orders, against what really happened (issue 20).

The world: two own sites, alpha (first in the channel's priority, 5.00 per order) and
beta (3.00 per order); P1 is kept by both, P2 only by alpha, P3 only by beta. The draft
adds "DE → cheapest, within 2 days" to a default of channel priority within 0 days.
Twenty orders of a Monday two weeks ago, every one placed before the 15:00 cut-off and
delivered by the carrier one day later (Tuesday):

- 10 NL orders of P1: alpha (default rule); promised Tuesday, deadline Monday: missed.
- 1 NL order of P2 + P3: split over alpha and beta (8.00); missed.
- 7 DE orders of P1: beta, the cheapest (3.00); deadline Wednesday: met.
- 2 DE orders of P1 + P2: only alpha holds both (5.00); met.

What happened: every shipped order left alpha at 6.00 per shipment (the split order also
beta at 4.00), delivered Tuesday against a Wednesday promise, except the split order
(delivered Thursday) and the two P1 + P2 orders, which never shipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from economics.models import RateCard, ShipmentCost
from logistics.models import Shipment
from orders.models import ChannelWarehouse, Order
from routing.models import Rule, RuleSet, SiteCost, WhatIfOrder, WhatIfRun
from routing.selectors import whatif_figures
from routing.services import whatif
from routing.services.rulesets import rule_save, ruleset_draft_create
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ProviderFactory, ShipmentFactory
from tests.orders.factories import ChannelFactory, OrderFactory, OrderLineFactory

UTC = dt.UTC


def _monday() -> dt.date:
    today = timezone.localdate()
    return today - dt.timedelta(days=today.weekday() + 14)


class World:
    def __init__(self) -> None:
        self.monday = _monday()
        self.provider = ProviderFactory(code="sandbox")
        self.alpha = WarehouseFactory(code="alpha")
        self.beta = WarehouseFactory(code="beta")
        SiteCost.objects.create(warehouse=self.alpha, per_order=Decimal("5.00"), currency="EUR")
        SiteCost.objects.create(warehouse=self.beta, per_order=Decimal("3.00"), currency="EUR")
        self.channel = ChannelFactory(code="shop")
        ChannelWarehouse.objects.create(channel=self.channel, warehouse=self.alpha, priority=1)
        ChannelWarehouse.objects.create(channel=self.channel, warehouse=self.beta, priority=2)
        self.p1, self.p2, self.p3 = (ProductFactory(sku=f"P{n}") for n in (1, 2, 3))
        for product, sites in (
            (self.p1, (self.alpha, self.beta)),
            (self.p2, (self.alpha,)),
            (self.p3, (self.beta,)),
        ):
            for site in sites:
                StockLevelFactory(product=product, warehouse=site, on_hand=0)
        self.card = RateCard.objects.create(
            provider=self.provider,
            name="for the priced costs only (a draft: routing ignores it)",
            currency="EUR",
            valid_from=self.monday - dt.timedelta(days=30),
        )
        self.rule_set = ruleset_draft_create(name="DE cheapest", actor="test")
        RuleSet.objects.filter(pk=self.rule_set.pk).update(default_max_delivery_days=0)
        self.rule_set.refresh_from_db()
        rule_save(
            rule_set_id=self.rule_set.pk,
            rule=Rule(
                name="DE cheapest", countries=["DE"], objective="cheapest", max_delivery_days=2
            ),
        )
        self.orders: list[Order] = []
        self._number = 0

    def at(self, day: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(
            self.monday + dt.timedelta(days=day), dt.time(8, minute), tzinfo=UTC
        )

    def order(self, country: str, products, *, status="delivered", day=0) -> Order:
        self._number += 1
        order = OrderFactory(
            channel=self.channel,
            shipping_country=country,
            shipping_postcode="10115" if country == "DE" else "1011 AB",
            status=status,
            # Three orders to a minute: keyset paging must not skip or repeat ties.
            placed_at=self.at(day, self._number // 3),
            promised_delivery_date=self.monday + dt.timedelta(days=2),
        )
        for number, product in enumerate(products, start=1):
            OrderLineFactory(order=order, product=product, sku=product.sku, line_number=number)
        self.orders.append(order)
        return order

    def shipped(self, order: Order, site, cost: str, *, delivered_day: int = 1) -> Shipment:
        shipment = ShipmentFactory(
            order=order,
            warehouse=site,
            provider=self.provider,
            status=Shipment.Status.DELIVERED,
            delivered_at=self.at(delivered_day, 30),
        )
        ShipmentCost.objects.create(
            shipment=shipment,
            stage="dispatched",
            card=self.card,
            currency="EUR",
            total=Decimal(cost),
            priced_at=timezone.now(),
        )
        return shipment


@pytest.fixture
def world(db, settings):
    settings.PROMISE_DEFAULT_TRANSIT_DAYS = 1
    w = World()
    for _ in range(10):
        w.shipped(w.order("NL", [w.p1]), w.alpha, "6.00")
    split = w.order("NL", [w.p2, w.p3])
    w.shipped(split, w.alpha, "6.00", delivered_day=3)
    w.shipped(split, w.beta, "4.00", delivered_day=3)
    for _ in range(7):
        w.shipped(w.order("DE", [w.p1]), w.alpha, "6.00")
    for _ in range(2):
        w.order("DE", [w.p1, w.p2], status="backordered")
    # Neither counts: a cancelled order, and one placed after the period.
    w.order("NL", [w.p1], status="cancelled")
    w.order("NL", [w.p1], day=7)
    return w


def _run(w: World, **kwargs) -> WhatIfRun:
    return whatif.whatif_create(
        rule_set_id=w.rule_set.pk,
        period_start=kwargs.get("start", w.monday),
        period_end=kwargs.get("end", w.monday + dt.timedelta(days=6)),
        actor="manager",
    )


def _figures(run: WhatIfRun) -> dict[str, tuple[str, str]]:
    return {f.key: (f.simulated, f.actual) for f in whatif_figures(run=run)}


def test_whatif_totals_simulated_and_actual(world):
    run = whatif.whatif_execute(run_id=_run(world).pk)

    assert run.status == WhatIfRun.Status.DONE
    assert run.stock_assumption == whatif.STOCK_ASSUMPTION
    summary = run.summary
    assert summary["orders"] == 20
    assert summary["simulated"] == {
        "shipments": 21,
        "split": 1,
        "met": 9,
        "judged": 20,
        "shipped": 20,
        "unpriced": 0,
        "costs": {"EUR": {"total": "89.0000", "orders": 20}},
        "sites": {"alpha": 13, "beta": 8},
    }
    assert summary["actual"] == {
        "shipments": 19,
        "split": 1,
        "met": 17,
        "judged": 20,
        "shipped": 18,
        "unpriced": 0,
        "costs": {"EUR": {"total": "112.0000", "orders": 18}},
        "sites": {"alpha": 18, "beta": 1},
    }
    assert summary["rules"] == {"default": 11, "#1": 9}
    assert _figures(run) == {
        "orders": ("20", "20"),
        "shipped": ("20", "18"),
        "cost_EUR": ("89.00", "112.00"),
        "cost_per_order_EUR": ("4.45", "6.22"),
        "unpriced": ("0", "0"),
        "promise_met": ("45.0 %", "85.0 %"),
        "shipments_per_order": ("1.05", "0.95"),
        "split_rate": ("5.0 %", "5.0 %"),
    }


def test_whatif_rows_per_order(world):
    run = whatif.whatif_execute(run_id=_run(world).pk)

    rows = {r.order_id: r for r in WhatIfOrder.objects.filter(run=run)}
    assert len(rows) == 20
    de = rows[world.orders[11].pk]
    assert (de.sites, de.providers, de.shipments, de.cost, de.rule_position) == (
        ["beta"],
        ["sandbox"],
        1,
        Decimal("3.0000"),
        1,
    )
    assert de.ship_by == world.monday
    assert de.promised_delivery_date == world.monday + dt.timedelta(days=1)
    assert de.deadline == world.monday + dt.timedelta(days=2)
    assert (de.actual_sites, de.actual_shipments, de.actual_cost) == (
        ["alpha"],
        1,
        Decimal("6.0000"),
    )
    split = rows[world.orders[10].pk]
    assert (split.strategy, split.sites, split.cost) == ("split", ["alpha", "beta"], Decimal("8"))
    assert split.actual_delivered_on == world.monday + dt.timedelta(days=3)
    never = rows[world.orders[19].pk]
    assert (never.actual_sites, never.actual_shipments, never.actual_cost) == ([], 0, None)


def test_progress_reaches_the_total_over_several_chunks(world, monkeypatch):
    monkeypatch.setattr(whatif, "CHUNK", 7)
    seen = []
    original = whatif._progress

    def spy(run, claimed_at, *, processed, total):
        seen.append((processed, total))
        original(run, claimed_at, processed=processed, total=total)

    monkeypatch.setattr(whatif, "_progress", spy)
    run = whatif.whatif_execute(run_id=_run(world).pk)

    assert seen == [(0, 20), (7, 20), (14, 20), (20, 20)]
    assert whatif.whatif_progress(run) == (20, 20)
    assert WhatIfOrder.objects.filter(run=run).values("order_id").distinct().count() == 20


def test_a_crashed_run_starts_over_without_duplicates(world):
    run = _run(world)
    # A worker claimed it, wrote part of it and died: no progress for longer than STALE_AFTER.
    whatif.whatif_execute(run_id=run.pk)
    WhatIfOrder.objects.filter(run=run, order_id__gt=world.orders[4].pk).delete()
    stale = timezone.now() - whatif.STALE_AFTER - dt.timedelta(seconds=1)
    WhatIfRun.objects.filter(pk=run.pk).update(
        status=WhatIfRun.Status.RUNNING, processed=5, summary={}, updated_at=stale
    )

    again = whatif.whatif_execute(run_id=run.pk)

    assert again.status == WhatIfRun.Status.DONE
    assert (again.processed, again.total) == (20, 20)
    assert WhatIfOrder.objects.filter(run=run).count() == 20
    assert again.summary["simulated"]["shipments"] == 21


def test_a_run_another_worker_is_running_is_left_alone(world):
    run = _run(world)
    WhatIfRun.objects.filter(pk=run.pk).update(
        status=WhatIfRun.Status.RUNNING, started_at=timezone.now()
    )

    left = whatif.whatif_execute(run_id=run.pk)

    assert left.status == WhatIfRun.Status.RUNNING
    assert not WhatIfOrder.objects.filter(run=run).exists()


def test_a_finished_run_is_not_run_again(world):
    run = whatif.whatif_execute(run_id=_run(world).pk)
    finished_at = run.finished_at

    assert whatif.whatif_execute(run_id=run.pk).finished_at == finished_at
    assert WhatIfOrder.objects.filter(run=run).count() == 20


def test_create_refuses_a_second_run_of_the_same_rule_set(world):
    _run(world)
    with pytest.raises(Conflict):
        _run(world)


@pytest.mark.parametrize(
    ("start_days", "end_days"), [(1, 0), (0, 366)], ids=["backwards", "longer-than-366-days"]
)
def test_create_refuses_a_bad_period(world, start_days, end_days):
    with pytest.raises(ValidationFailed):
        _run(
            world,
            start=world.monday + dt.timedelta(days=start_days),
            end=world.monday + dt.timedelta(days=end_days),
        )


def test_deleting_a_run_deletes_its_rows(world):
    run = whatif.whatif_execute(run_id=_run(world).pk)
    run.delete()
    assert not WhatIfOrder.objects.exists()


# --- screens -----------------------------------------------------------------------------


def test_a_manager_starts_a_whatif_from_the_form(world, client, manager):
    client.force_login(manager)
    url = reverse("backoffice:routing_whatif_start", args=[world.rule_set.pk])

    response = client.post(
        url,
        {
            "period_start": world.monday.isoformat(),
            "period_end": (world.monday + dt.timedelta(days=6)).isoformat(),
        },
    )

    run = WhatIfRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:routing_whatif", args=[run.pk])
    assert (run.started_by, run.status) == ("manager", WhatIfRun.Status.QUEUED)


def test_an_agent_cannot_start_or_see_a_whatif(world, client, agent):
    run = whatif.whatif_execute(run_id=_run(world).pk)
    client.force_login(agent)
    start = reverse("backoffice:routing_whatif_start", args=[world.rule_set.pk])

    assert (
        client.post(start, {"period_start": "2026-01-01", "period_end": "2026-01-02"}).status_code
        == 403
    )
    assert client.get(reverse("backoffice:routing_whatif", args=[run.pk])).status_code == 403
    assert client.get(reverse("backoffice:routing_whatif_csv", args=[run.pk])).status_code == 403
    assert WhatIfRun.objects.count() == 1


def test_the_start_form_renders_with_the_last_30_days(world, manager, rf):
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = manager
    html = render_to_string(
        "backoffice/routing/whatif_start.html", {"rule_set": world.rule_set}, request=request
    )
    today = timezone.localdate()
    assert f'value="{(today - dt.timedelta(days=29)).isoformat()}"' in html
    assert f'value="{today.isoformat()}"' in html
    assert reverse("backoffice:routing_whatif_start", args=[world.rule_set.pk]) in html


def test_the_run_page_shows_the_comparison_in_constant_queries(
    world, client, manager, django_assert_max_num_queries
):
    run = whatif.whatif_execute(run_id=_run(world).pk)
    client.force_login(manager)
    url = reverse("backoffice:routing_whatif", args=[run.pk])
    client.get(url)  # warm the session and permission caches

    with django_assert_max_num_queries(8):
        response = client.get(url)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-figure="promise_met"' in html
    assert "45.0 %" in html
    assert "85.0 %" in html
    assert "<svg" in html
    assert "stock ledger" in html  # the stock assumption, in words
    assert reverse("backoffice:routing_whatif_csv", args=[run.pk]) in html


def test_the_status_json_follows_the_run(world, client, manager):
    run = _run(world)
    client.force_login(manager)
    url = reverse("backoffice:routing_whatif_status", args=[run.pk])
    assert client.get(url).json()["finished"] is False

    whatif.whatif_execute(run_id=run.pk)

    body = client.get(url).json()
    assert (body["finished"], body["percent"], body["processed"], body["total"]) == (
        True,
        100,
        20,
        20,
    )


def test_the_csv_has_one_row_per_order_in_constant_queries(
    world, client, manager, django_assert_max_num_queries
):
    run = whatif.whatif_execute(run_id=_run(world).pk)
    client.force_login(manager)
    client.get(reverse("backoffice:routing_whatif", args=[run.pk]))

    with django_assert_max_num_queries(6):
        response = client.get(reverse("backoffice:routing_whatif_csv", args=[run.pk]))
        body = b"".join(response.streaming_content).decode()

    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 20
    de = next(r for r in rows if r["order"] == world.orders[11].number)
    assert (de["simulated_sites"], de["simulated_cost"], de["actual_sites"]) == (
        "beta",
        "3.0000",
        "alpha",
    )
    assert de["rule"] == "#1"


# --- through the real worker ---------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_whatif_runs_on_the_celery_worker(settings, client, monkeypatch, make_user):
    from routing.tasks import whatif_run_task
    from tests.backoffice.browser import celery_worker_for

    settings.PROMISE_DEFAULT_TRANSIT_DAYS = 1
    w = World()
    for _ in range(3):
        w.shipped(w.order("DE", [w.p1]), w.alpha, "6.00")
    client.force_login(make_user("manager", "operations_manager"))

    with celery_worker_for(monkeypatch, whatif_run_task):
        response = client.post(
            reverse("backoffice:routing_whatif_start", args=[w.rule_set.pk]),
            {"period_start": w.monday.isoformat(), "period_end": w.monday.isoformat()},
        )
        assert response.status_code == 302
        run = WhatIfRun.objects.get()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.is_finished:
                break
            time.sleep(0.2)

    assert run.status == WhatIfRun.Status.DONE, run.error
    assert (run.processed, run.total) == (3, 3)
    assert run.summary["simulated"]["sites"] == {"beta": 3}
    assert run.summary["actual"]["sites"] == {"alpha": 3}


def test_a_failing_simulation_marks_the_run_failed(world, monkeypatch):
    def broken(**kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr(whatif, "decision_for", broken)
    run = _run(world)

    with pytest.raises(ZeroDivisionError):
        whatif.whatif_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == WhatIfRun.Status.FAILED
    assert "ZeroDivisionError" in run.error
    assert run.finished_at is not None


def test_create_queues_the_worker_after_commit_unless_told_not_to(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    from routing.tasks import whatif_run_task

    sent = []
    monkeypatch.setattr(whatif_run_task, "delay", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        run = _run(world)
    assert sent == [{"run_id": run.pk}]

    other = ruleset_draft_create(name="other", actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        whatif.whatif_create(
            rule_set_id=other.pk,
            period_start=world.monday,
            period_end=world.monday,
            actor="bench",
            enqueue=False,
        )
    assert len(sent) == 1


def test_a_manager_deletes_a_finished_run(world, client, manager):
    run = whatif.whatif_execute(run_id=_run(world).pk)
    client.force_login(manager)
    page = client.get(reverse("backoffice:routing_whatif", args=[run.pk])).content.decode()
    url = reverse("backoffice:routing_whatif_delete", args=[run.pk])
    assert url in page

    response = client.post(url)

    assert response.status_code == 302
    assert not WhatIfRun.objects.exists()
    assert not WhatIfOrder.objects.exists()


def test_a_running_run_cannot_be_deleted(world):
    run = _run(world)
    WhatIfRun.objects.filter(pk=run.pk).update(status=WhatIfRun.Status.RUNNING)
    with pytest.raises(Conflict):
        whatif.whatif_delete(run_id=run.pk)
    assert WhatIfRun.objects.filter(pk=run.pk).exists()


def test_the_task_of_a_deleted_run_does_nothing(world):
    from routing.tasks import whatif_run_task

    run = _run(world)
    WhatIfRun.objects.filter(pk=run.pk).delete()

    assert whatif_run_task.run(run_id=run.pk) == "deleted"


def test_the_rule_set_page_has_the_form_and_a_refused_start_returns_to_it(world, client, manager):
    client.force_login(manager)
    ruleset_url = reverse("backoffice:routing_rule_set", args=[world.rule_set.pk])
    page = client.get(ruleset_url).content.decode()
    assert 'id="whatif-start"' in page

    response = client.post(
        reverse("backoffice:routing_whatif_start", args=[world.rule_set.pk]),
        {"period_start": "2026-02-01", "period_end": "2026-01-01"},
    )

    assert response.status_code == 302
    assert response["Location"] == ruleset_url
    assert not WhatIfRun.objects.exists()
    assert "starts after it ends" in client.get(ruleset_url).content.decode()
