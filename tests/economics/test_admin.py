"""Rate cards in the admin: a manager edits a draft, activates it, and can no longer change it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from economics.models import RateCard
from economics.services.rate_card_csv import rate_card_import
from tests.economics.test_rate_card_csv import GOOD
from tests.logistics.factories import ProviderFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


@pytest.fixture
def card():
    return rate_card_import(provider_id=ProviderFactory().pk, text=GOOD)


def test_a_manager_activates_a_draft_and_it_becomes_read_only(client, manager, card):
    client.force_login(manager)
    changelist = reverse("admin:economics_ratecard_changelist")
    change = reverse("admin:economics_ratecard_change", args=[card.pk])
    assert client.get(change).context["has_change_permission"] is True

    response = client.post(
        changelist, {"action": "activate", "_selected_action": [card.pk]}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [f"{card} is active."]
    card.refresh_from_db()
    assert card.status == RateCard.Status.ACTIVE
    assert card.activated_by == "manager"
    assert client.get(change).context["has_change_permission"] is False
    refused = client.post(change, {"name": "changed"})
    assert refused.status_code == 403
    card.refresh_from_db()
    assert card.name == "Demo 2026"


def test_an_invalid_card_is_not_activated_and_the_manager_is_told_why(client, manager, card):
    card.zones.filter(code="eu").update(countries=["DE"])
    client.force_login(manager)

    response = client.post(
        reverse("admin:economics_ratecard_changelist"),
        {"action": "activate", "_selected_action": [card.pk]},
        follow=True,
    )

    (message,) = [str(m) for m in response.context["messages"]]
    assert "DE is in zones eu and home" in message
    card.refresh_from_db()
    assert card.status == RateCard.Status.DRAFT


def test_the_export_action_downloads_the_card_as_csv(client, manager, card):
    client.force_login(manager)
    response = client.post(
        reverse("admin:economics_ratecard_changelist"),
        {"action": "export_csv", "_selected_action": [card.pk]},
    )
    assert response["Content-Type"] == "text/csv"
    assert response.content.decode().splitlines()[1].startswith("card,,Demo 2026,EUR,2026-01-01")


def test_warehouse_staff_see_no_rate_cards(client, warehouse_user, card):
    client.force_login(warehouse_user)
    assert client.get(reverse("admin:economics_ratecard_changelist")).status_code == 403
