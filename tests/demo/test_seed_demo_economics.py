"""seed_demo and LSP economics (issue 19 item 6): an active rate card per demo provider,
expected costs of the demo's shipments, and an example invoice that reconciles to the
faults put into it."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Q
from django.utils import timezone

from demo import economics as demo_economics
from demo import pools
from economics.models import (
    ChargeRule,
    Invoice,
    RateCard,
    ShipmentCharge,
    ShipmentCost,
    Stage,
    SweepCursor,
    Zone,
)
from economics.services.invoice_import import lsp_invoice_import
from economics.services.rate_card_csv import rate_card_import
from economics.services.rate_cards import rate_card_activate, rate_card_problems
from logistics.models import Provider, Shipment
from orders.models import Order

pytestmark = pytest.mark.django_db

ECONOMICS_MODELS = [RateCard, Zone, ChargeRule, ShipmentCost, ShipmentCharge, SweepCursor]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _seed(invoice_dir, **options):
    out = StringIO()
    call_command("seed_demo", workers=1, invoice_dir=invoice_dir, stdout=out, **options)
    return out.getvalue()


def test_every_demo_provider_gets_one_active_card_from_before_the_oldest_order(tmp_path):
    _seed(tmp_path)

    oldest = Order.objects.order_by("placed_at").values_list("placed_at", flat=True).first()
    # The LSPs' cards; the demo carrier (karrio) quotes its own rates.
    for provider in Provider.objects.filter(kind=Provider.Kind.THREE_PL):
        cards = RateCard.objects.filter(provider=provider)
        assert [card.status for card in cards] == [RateCard.Status.ACTIVE]
        card = cards.get()
        assert card.valid_from < oldest.date() - dt.timedelta(days=30)
        assert card.valid_to is None
        assert card.activated_by == "seed_demo"
        assert rate_card_problems(card) == []
        types = set(card.rules.values_list("charge_type", flat=True))
        assert types == {
            "fulfilment", "additional_unit", "parcel", "remote_area", "customs", "surcharge",
            "storage", "return", "inbound_unit",
        }  # fmt: skip
        countries = {country for zone in card.zones.all() for country in zone.countries}
        assert set(pools.COUNTRY_WEIGHTS) <= countries


def test_the_demo_card_is_read_back_by_the_csv_import_and_activates_for_another_provider():
    provider = Provider.objects.create(code="other", name="Other")
    text = demo_economics.demo_rate_card_csv(
        provider_code="fulfilnet", valid_from=dt.date(2024, 1, 1)
    )

    card = rate_card_activate(
        card_id=rate_card_import(provider_id=provider.pk, text=text).pk, actor="test"
    )

    assert card.status == RateCard.Status.ACTIVE
    assert card.rules.filter(charge_type="parcel").count() == 4 * 5


def test_every_demo_shipment_gets_an_expected_cost_without_problems(tmp_path):
    _seed(tmp_path)

    outbound = Shipment.objects.filter(direction=Shipment.Direction.OUTBOUND)
    assert outbound.count() > 0
    costs = ShipmentCost.objects.filter(shipment__in=outbound)
    assert costs.count() == outbound.count()
    dispatched = outbound.filter(dispatched_at__isnull=False)
    assert costs.filter(stage=Stage.DISPATCHED).count() == dispatched.count()
    # Every dispatched shipment is priced in full: a card, a total, its lines, no problem.
    priced = costs.filter(shipment__in=dispatched)
    assert not priced.filter(
        Q(card__isnull=True) | Q(total__isnull=True) | ~Q(problems=[])
    ).exists()
    assert not priced.filter(total__lte=0).exists()
    assert ShipmentCharge.objects.filter(shipment__in=dispatched).values("shipment").distinct().count() == (
        dispatched.count()
    )  # fmt: skip


def test_seed_demo_twice_changes_no_economics_row_and_writes_the_same_invoice(tmp_path):
    _seed(tmp_path)
    counts = {model: model.objects.count() for model in ECONOMICS_MODELS}
    costs = list(
        ShipmentCost.objects.order_by("shipment_id").values_list(
            "shipment_id", "total", "priced_at"
        )
    )
    invoice = demo_economics.demo_invoice_path(tmp_path).read_text()

    out = _seed(tmp_path)

    assert {model: model.objects.count() for model in ECONOMICS_MODELS} == counts
    assert (
        list(
            ShipmentCost.objects.order_by("shipment_id").values_list(
                "shipment_id", "total", "priced_at"
            )
        )
        == costs
    )
    assert demo_economics.demo_invoice_path(tmp_path).read_text() == invoice
    assert "0 rate cards activated, 0 shipments priced" in out


def test_the_example_invoice_reconciles_to_the_faults_put_into_it(tmp_path):
    out = _seed(tmp_path)
    path = demo_economics.demo_invoice_path(tmp_path)
    assert str(path) in out
    now = timezone.now()
    expected = demo_economics.demo_invoice_write(directory=tmp_path, now=now)
    assert expected is not None
    assert expected.expected["overcharged"] >= 1
    assert expected.expected["duplicate"] >= 1

    invoice = lsp_invoice_import(provider_code="sandbox", text=path.read_text())

    summary = invoice.summary
    assert summary["lines"] == expected.lines
    for outcome in ("matched", "overcharged", "duplicate", "unknown_reference", "not_invoiced"):
        assert summary[outcome] == expected.expected[outcome], outcome
    assert summary["undercharged"] == 0
    assert (
        Invoice.objects.get().disputes.count()
        == expected.lines - summary["matched"] + summary["not_invoiced"]
    )


def test_seed_demo_with_generated_orders_prices_them_too(tmp_path):
    _seed(tmp_path, orders=300, seed=7)

    outbound = Shipment.objects.filter(direction=Shipment.Direction.OUTBOUND)
    assert outbound.count() > 100
    assert ShipmentCost.objects.count() == outbound.count()


def test_no_pricing_leaves_the_shipments_to_the_sweep_but_still_activates_the_cards(tmp_path):
    _seed(tmp_path, no_pricing=True)

    assert (
        RateCard.objects.filter(status=RateCard.Status.ACTIVE).count()
        == Provider.objects.filter(kind=Provider.Kind.THREE_PL).count()
    )
    assert not ShipmentCost.objects.exists()
    assert not demo_economics.demo_invoice_path(tmp_path).exists()
