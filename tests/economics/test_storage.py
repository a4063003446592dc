"""Storage at LSP-operated sites accrues once a day, priced by the card in force."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from economics.models import ChargeRule, StorageCharge
from economics.services.storage import storage_accrue
from tests.economics.test_expected_cost import active_card
from tests.inventory.factories import StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 11, 30)


def lsp_site(provider):
    return WarehouseFactory(kind="lsp", provider=provider)


def test_units_held_at_each_lsp_site_are_priced_per_unit_day_and_own_sites_are_not():
    provider = ProviderFactory()
    card = active_card(provider)
    ChargeRule.objects.create(card=card, charge_type="storage", name="Storage", amount="0.02")
    site = lsp_site(provider)
    StockLevelFactory(warehouse=site, on_hand=120)
    StockLevelFactory(warehouse=site, on_hand=30)
    StockLevelFactory(warehouse=site, on_hand=0)
    StockLevelFactory(warehouse=WarehouseFactory(kind="own"), on_hand=999)

    assert storage_accrue(day=DAY) == 1

    row = StorageCharge.objects.get()
    assert (row.warehouse_id, row.day, row.units, row.card_id) == (site.pk, DAY, 150, card.pk)
    assert (row.amount, row.currency, row.problems) == (Decimal("3.0000"), "EUR", [])


def test_running_twice_for_a_day_keeps_one_row_with_the_latest_units():
    provider = ProviderFactory()
    card = active_card(provider)
    ChargeRule.objects.create(card=card, charge_type="storage", name="Storage", amount="0.02")
    level = StockLevelFactory(warehouse=lsp_site(provider), on_hand=10)
    storage_accrue(day=DAY)
    level.on_hand = 20
    level.save()

    storage_accrue(day=DAY)

    assert list(StorageCharge.objects.values_list("units", "amount")) == [(20, Decimal("0.4000"))]


def test_without_a_card_or_with_pallet_pricing_the_day_is_recorded_unpriced_with_a_reason():
    no_card = lsp_site(ProviderFactory())
    StockLevelFactory(warehouse=no_card, on_hand=5)
    provider = ProviderFactory()
    card = active_card(provider)
    ChargeRule.objects.create(
        card=card, charge_type="storage", name="Pallets", amount="1.00", storage_basis="pallet"
    )
    pallets = lsp_site(provider)

    storage_accrue(day=DAY)

    first = StorageCharge.objects.get(warehouse=no_card)
    assert (first.amount, first.problems) == (
        None,
        ["no active rate card of the provider on 2026-11-30"],
    )
    second = StorageCharge.objects.get(warehouse=pallets)
    assert second.amount is None
    assert second.problems == ["the card charges storage per pallet or bin; Consign counts units"]
