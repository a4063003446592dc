"""Partner API for inbound shipments (ASNs): create, list, read, cancel."""

from __future__ import annotations

import pytest
from django.utils import timezone

from inventory.models import InboundLine, InboundShipment, StockMovement
from inventory.services.receiving import inbound_receive
from logistics.adapters.base import ProviderRejected, ProviderUnavailable
from logistics.models import AsnOutbox
from logistics.services import asn
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.logistics.factories import ProviderFactory

URL = "/api/v1/inbound-shipments/"
pytestmark = pytest.mark.django_db

PAYLOAD = {
    "reference": "PO-1",
    "warehouse": "ams",
    "expected_at": "2026-03-10T09:00:00Z",
    "lines": [{"sku": "IN-A", "quantity": 10}, {"sku": "IN-B", "quantity": 4}],
    "carrier": "DHL Freight",
    "tracking_number": "JV123",
}


@pytest.fixture(autouse=True)
def world(db):
    ProductFactory(sku="IN-A")
    ProductFactory(sku="IN-B")
    own = WarehouseFactory(code="ams")
    lsp = WarehouseFactory(code="venlo", kind="lsp", provider=ProviderFactory(code="lsp-in"))
    return {"own": own, "lsp": lsp}


def _post(client, payload=None, key=None, **changes):
    body = {**(payload or PAYLOAD), **changes}
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(URL, body, format="json", headers=headers)


def _nothing_written():
    assert not InboundShipment.objects.exists()
    assert not InboundLine.objects.exists()
    assert not AsnOutbox.objects.exists()


def test_create_for_an_own_warehouse_is_sent_with_lines_and_location(api_client, api_channel):
    response = _post(api_client)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"].startswith("ASN-")
    assert body["status"] == "sent"
    assert response["Location"] == f"{URL}{body['number']}/"
    assert body["lines"] == [
        {"sku": "IN-A", "expected": 10, "received": 0, "discrepancy": -10},
        {"sku": "IN-B", "expected": 4, "received": 0, "discrepancy": -4},
    ]
    assert (body["carrier"], body["tracking_number"]) == ("DHL Freight", "JV123")
    assert body["expected_at"] == "2026-03-10T09:00:00Z"
    inbound = InboundShipment.objects.get()
    assert inbound.channel_id == api_channel.pk
    assert not AsnOutbox.objects.exists()  # nobody to send an own site's ASN to


def test_create_for_an_lsp_warehouse_is_draft_with_an_outbox_row_sent_after_commit(
    api_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(api_client, warehouse="venlo", carrier="", tracking_number="")
    assert response.status_code == 201
    assert response.json()["status"] == "draft"
    row = AsnOutbox.objects.get()
    assert row.status == AsnOutbox.Status.PENDING
    assert any("dispatch_asn_task" in repr(c) for c in callbacks)


def test_carrier_and_tracking_are_optional(api_client):
    payload = {k: v for k, v in PAYLOAD.items() if k not in ("carrier", "tracking_number")}
    response = _post(api_client, payload)
    assert response.status_code == 201
    assert (response.json()["carrier"], response.json()["tracking_number"]) == ("", "")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, "lines[0].sku"),
        ({"lines": [{"sku": "IN-A", "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "IN-A", "quantity": "3"}]}, "lines[0].quantity"),
        ({"lines": []}, "lines"),
        ({"warehouse": "nowhere"}, "warehouse"),
        ({"reference": ""}, "reference"),
        ({"expected_at": "soon"}, "expected_at"),
        (
            {"lines": [{"sku": "IN-A", "quantity": 1}, {"sku": "IN-A", "quantity": 2}]},
            "lines[1].sku",
        ),
    ],
)
def test_bad_input_is_a_problem_and_writes_nothing(api_client, changes, field):
    response = _post(api_client, **changes)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert field in {e["field"] for e in problem["errors"]}
    _nothing_written()


def test_a_body_of_the_wrong_shape_and_malformed_json_are_refused(api_client):
    assert api_client.post(URL, [PAYLOAD], format="json").status_code in (400, 422)
    response = api_client.post(URL, "{", content_type="application/json")
    assert response.status_code == 400
    _nothing_written()


def test_duplicate_reference_at_the_warehouse_is_409_naming_the_asn(api_client):
    first = _post(api_client).json()
    response = _post(api_client)
    assert response.status_code == 409
    assert response.json()["code"] == "inbound_reference_exists"
    assert response.json()["existing_inbound"] == first["number"]
    assert InboundShipment.objects.count() == 1


def test_idempotent_replay_creates_nothing_new_and_another_body_is_422(api_client):
    first = _post(api_client, key="asn-key-1")
    second = _post(api_client, key="asn-key-1")
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert InboundShipment.objects.count() == 1
    assert _post(api_client, key="asn-key-1", reference="PO-2").status_code == 422
    assert InboundShipment.objects.count() == 1


def test_detail_shows_received_and_discrepancy(api_client):
    number = _post(api_client).json()["number"]
    inbound = InboundShipment.objects.get(number=number)
    inbound_receive(inbound=inbound, code="IN-A", quantity=7)
    body = api_client.get(f"{URL}{number}/").json()
    assert body["status"] == "receiving"
    assert body["lines"][0] == {"sku": "IN-A", "expected": 10, "received": 7, "discrepancy": -3}


def test_another_channels_asn_is_404_for_read_and_cancel(api_client, other_api_client):
    number = _post(api_client).json()["number"]
    for response in (
        other_api_client.get(f"{URL}{number}/"),
        other_api_client.post(f"{URL}{number}/cancel/", {}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "inbound_not_found"
    assert InboundShipment.objects.get().status == "sent"
    assert other_api_client.get(URL).json()["results"] == []


def test_staff_asn_without_channel_is_invisible_to_partners(api_client, world):
    inbound = InboundShipment.objects.create(warehouse=world["own"], reference="STAFF-1")
    assert api_client.get(f"{URL}{inbound.number}/").status_code == 404


def test_list_is_cursor_paged_filtered_and_constant_in_queries(
    api_client, django_assert_max_num_queries
):
    for n in range(3):
        _post(api_client, reference=f"PO-{n}")
    with django_assert_max_num_queries(4):
        first = api_client.get(URL, {"page_size": 2}).json()
    assert [r["reference"] for r in first["results"]] == ["PO-2", "PO-1"]
    second = api_client.get(URL, {"page_size": 2, "cursor": first["next_cursor"]}).json()
    assert [r["reference"] for r in second["results"]] == ["PO-0"]
    assert second["next_cursor"] is None
    for n in range(3, 20):
        _post(api_client, reference=f"PO-{n}", warehouse="venlo" if n % 2 else "ams")
    with django_assert_max_num_queries(4):
        assert len(api_client.get(URL).json()["results"]) == 20
    drafts = api_client.get(URL, {"status": "draft"}).json()["results"]
    assert drafts
    assert {r["status"] for r in drafts} == {"draft"}
    venlo = api_client.get(URL, {"warehouse": "venlo"}).json()["results"]
    assert venlo
    assert {r["warehouse"] for r in venlo} == {"venlo"}
    bad = api_client.get(URL, {"status": "closed"})
    assert bad.status_code == 400


def test_cancel_before_arrival_and_409_once_receiving(api_client):
    number = _post(api_client).json()["number"]
    response = api_client.post(f"{URL}{number}/cancel/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = api_client.post(f"{URL}{number}/cancel/", {}, format="json")
    assert again.status_code == 200  # cancelling a cancelled ASN returns it unchanged

    other = _post(api_client, reference="PO-2").json()["number"]
    inbound_receive(inbound=InboundShipment.objects.get(number=other), code="IN-A")
    refused = api_client.post(f"{URL}{other}/cancel/", {}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "inbound_not_cancellable"
    assert refused.json()["inbound_status"] == "receiving"


class _CancelAdapter:
    def __init__(self, outcome):
        self.outcome = outcome
        self.calls = 0

    def cancel_inbound(self, inbound):
        self.calls += 1
        if self.outcome == "refused":
            raise ProviderRejected("Too late: receiving started.", status_code=409)
        if self.outcome == "down":
            raise ProviderUnavailable("LSP answered 503", status_code=503)


@pytest.fixture
def sent_lsp_asn(api_client):
    number = _post(api_client, warehouse="venlo").json()["number"]
    inbound = InboundShipment.objects.get(number=number)
    InboundShipment.objects.filter(pk=inbound.pk).update(
        status="sent", provider_reference="sba_9", sent_at=timezone.now()
    )
    AsnOutbox.objects.filter(inbound=inbound).update(status="sent")
    inbound.refresh_from_db()
    return inbound


@pytest.mark.parametrize(
    ("outcome", "code"),
    [("refused", "inbound_cancel_refused"), ("down", "inbound_cancel_unavailable")],
)
def test_lsp_refusing_or_unreachable_on_cancel_is_409_and_changes_nothing(
    api_client, sent_lsp_asn, monkeypatch, outcome, code
):
    adapter = _CancelAdapter(outcome)
    monkeypatch.setattr(asn, "adapter_for", lambda provider: adapter)
    response = api_client.post(f"{URL}{sent_lsp_asn.number}/cancel/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == code
    assert adapter.calls == 1
    sent_lsp_asn.refresh_from_db()
    assert sent_lsp_asn.status == "sent"


def test_lsp_asn_is_cancelled_at_the_lsp_first(api_client, sent_lsp_asn, monkeypatch):
    adapter = _CancelAdapter("ok")
    monkeypatch.setattr(asn, "adapter_for", lambda provider: adapter)
    response = api_client.post(f"{URL}{sent_lsp_asn.number}/cancel/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert adapter.calls == 1


def test_draft_lsp_asn_cancels_without_calling_the_lsp_and_drops_its_outbox_row(
    api_client, monkeypatch
):
    adapter = _CancelAdapter("refused")
    monkeypatch.setattr(asn, "adapter_for", lambda provider: adapter)
    number = _post(api_client, warehouse="venlo").json()["number"]
    response = api_client.post(f"{URL}{number}/cancel/", {}, format="json")
    assert response.status_code == 200
    assert adapter.calls == 0
    assert not AsnOutbox.objects.exists()
    assert not StockMovement.objects.exists()


def test_cancel_replays_with_the_same_idempotency_key(api_client):
    number = _post(api_client).json()["number"]
    url = f"{URL}{number}/cancel/"
    first = api_client.post(url, {}, format="json", headers={"Idempotency-Key": "c-1"})
    second = api_client.post(url, {}, format="json", headers={"Idempotency-Key": "c-1"})
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
