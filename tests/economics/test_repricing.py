"""A card activated or retired re-prices its period's shipments as a job with progress."""

from __future__ import annotations

import pytest

from economics.models import RepricingJob, ShipmentCost
from economics.services import expected_cost
from economics.services.rate_card_csv import rate_card_import
from economics.services.rate_cards import rate_card_activate, rate_card_retire
from economics.services.repricing import repricing_job_run
from logistics.models import Shipment
from tests.economics.test_expected_cost import CARD, planned_shipment

pytestmark = pytest.mark.django_db(transaction=True)


def draft(provider, fee="2.00"):
    text = CARD.format(fee=fee, start="2020-01-01", end="", name="card")
    return rate_card_import(provider_id=provider.pk, text=text)


def test_activating_a_card_prices_what_was_priced_without_one_batch_by_batch():
    shipments = [planned_shipment() for _ in range(5)]
    provider = shipments[0].provider
    Shipment.objects.filter(pk__in=[s.pk for s in shipments]).update(provider=provider)
    expected_cost.expected_costs_sweep()
    assert set(ShipmentCost.objects.values_list("total", flat=True)) == {None}

    card = rate_card_activate(card_id=draft(provider).pk, actor="m")

    job = RepricingJob.objects.get(card=card)
    assert (job.total, job.processed, job.reason) == (5, 0, f"{card} activated by m")
    first_batch = repricing_job_run(job_id=job.pk, batch=2)
    assert first_batch.status == "done"
    assert first_batch.processed == first_batch.total == 5
    assert set(ShipmentCost.objects.values_list("card_id", flat=True)) == {card.pk}


def test_a_lost_worker_resumes_after_the_last_priced_shipment():
    shipments = [planned_shipment() for _ in range(3)]
    provider = shipments[0].provider
    Shipment.objects.filter(pk__in=[s.pk for s in shipments]).update(provider=provider)
    card = rate_card_activate(card_id=draft(provider).pk, actor="m")
    job = RepricingJob.objects.get(card=card)
    ordered = sorted(s.pk for s in shipments)
    RepricingJob.objects.filter(pk=job.pk).update(
        status="running", processed=2, position=ordered[1]
    )

    repricing_job_run(job_id=job.pk)

    assert list(ShipmentCost.objects.values_list("shipment_id", flat=True)) == [ordered[2]]
    job.refresh_from_db()
    assert (job.status, job.processed) == ("done", 3)


def test_retiring_a_card_re_prices_its_shipments_as_unpriced_with_the_reason():
    shipment = planned_shipment()
    card = rate_card_activate(card_id=draft(shipment.provider).pk, actor="m")
    repricing_job_run(job_id=RepricingJob.objects.get(card=card).pk)
    assert ShipmentCost.objects.get(shipment=shipment).card_id == card.pk

    rate_card_retire(card_id=card.pk, actor="m")
    job = RepricingJob.objects.filter(card=card).order_by("-pk").first()
    repricing_job_run(job_id=job.pk)

    cost = ShipmentCost.objects.get(shipment=shipment)
    assert cost.card_id is None
    assert cost.problems[0].startswith("no active rate card of the provider on ")
    replacement = rate_card_activate(card_id=draft(shipment.provider, fee="2.40").pk, actor="m")
    repricing_job_run(job_id=RepricingJob.objects.get(card=replacement).pk)
    assert ShipmentCost.objects.get(shipment=shipment).card_id == replacement.pk
