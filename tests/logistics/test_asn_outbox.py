"""The ASN outbox (send to the LSP: lease, idempotency key, retries, refusals), the LSP's
receipt webhooks into the ledger, and the generic adapter against a real sandbox."""

from __future__ import annotations

import datetime as dt
import threading
import time

import httpx
import pytest
from django.utils import timezone

from backoffice.selectors import exception_queue
from core.errors import Conflict
from inventory.models import InboundShipment, StockLevel, StockMovement
from inventory.services.receiving import ExpectedLine
from logistics.adapters.base import CreatedInbound, ProviderRejected, ProviderUnavailable
from logistics.adapters.generic_http import GenericHttpAdapter
from logistics.models import AsnOutbox, InboundWebhook
from logistics.services import asn, tracking
from logistics.services.dispatch import Outcome
from sandbox.server import Sandbox, SandboxConfig, make_server
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.logistics.helpers import in_thread, sandbox_provider, signed_post
from tests.orders.factories import ChannelFactory

pytestmark = pytest.mark.django_db


class FakeAsnAdapter:
    """Scripted LSP: each create_inbound call pops the next outcome."""

    def __init__(self, outcomes=(), *, pause: threading.Event | None = None):
        self.outcomes = list(outcomes)
        self.calls = 0
        self.pause = pause

    def create_inbound(self, inbound):
        self.calls += 1
        if self.pause is not None:
            self.pause.wait(5)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "5xx":
            raise ProviderUnavailable("LSP answered 503", status_code=503)
        if outcome == "4xx":
            raise ProviderRejected("warehouse sandbox-venlo does not exist", status_code=422)
        return CreatedInbound(provider_reference=f"sba_{inbound.pk}")


@pytest.fixture
def provider():
    return sandbox_provider()


@pytest.fixture
def lsp(provider):
    return WarehouseFactory(code="venlo", kind="lsp", provider=provider)


@pytest.fixture
def draft(lsp):
    ProductFactory(sku="OB-A")
    ProductFactory(sku="OB-B")
    return asn.asn_create(
        warehouse_code="venlo",
        reference="PO-77",
        lines=[ExpectedLine("OB-A", 10), ExpectedLine("OB-B", 2)],
        channel_id=ChannelFactory(code="asn-shop").pk,
    )


def _send(inbound, adapter):
    result = asn.asn_send(inbound_id=inbound.pk, adapter=adapter)
    AsnOutbox.objects.filter(inbound=inbound).update(next_attempt_at=timezone.now())
    inbound.refresh_from_db()
    return result


def test_send_records_the_lsp_reference_and_is_not_repeated(draft):
    adapter = FakeAsnAdapter()
    assert _send(draft, adapter).outcome == Outcome.SENT
    assert (draft.status, draft.provider_reference) == ("sent", f"sba_{draft.pk}")
    assert draft.outbox.status == AsnOutbox.Status.SENT
    assert _send(draft, adapter).outcome == Outcome.NOOP
    assert adapter.calls == 1


def test_unavailable_lsp_is_retried_with_backoff_then_sent(draft, settings):
    settings.DISPATCH_RETRY_BASE_SECONDS = 4
    before = timezone.now()
    result = asn.asn_send(inbound_id=draft.pk, adapter=FakeAsnAdapter(["5xx"]))
    row = AsnOutbox.objects.get(inbound=draft)
    assert result.outcome == Outcome.RETRY
    assert 2 <= result.retry_in <= 4
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 503)
    assert row.next_attempt_at >= before + dt.timedelta(seconds=2)
    # Not due yet: a second message finds nothing to do.
    assert asn.asn_send(inbound_id=draft.pk, adapter=FakeAsnAdapter()).outcome == Outcome.NOOP
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert "503" in draft.last_error
    AsnOutbox.objects.filter(inbound=draft).update(next_attempt_at=timezone.now())
    assert _send(draft, FakeAsnAdapter()).outcome == Outcome.SENT
    assert draft.last_error == ""


def test_retries_run_out_and_park_the_asn(draft, settings):
    settings.DISPATCH_MAX_ATTEMPTS = 2
    adapter = FakeAsnAdapter(["5xx", "5xx"])
    assert _send(draft, adapter).outcome == Outcome.RETRY
    assert _send(draft, adapter).outcome == Outcome.FAILED
    assert AsnOutbox.objects.get(inbound=draft).status == AsnOutbox.Status.FAILED


def test_refused_asn_is_parked_in_the_exception_queue_and_can_be_sent_again(
    draft, django_capture_on_commit_callbacks
):
    assert _send(draft, FakeAsnAdapter(["4xx"])).outcome == Outcome.REJECTED
    assert draft.status == "draft"
    queue = exception_queue(kind="asn_refused")["asn_refused"]
    assert queue["count"] == 1
    (item,) = queue["items"]
    assert item.inbound_id == draft.pk
    assert "does not exist" in item.detail
    assert item.provider == "sandbox"
    with django_capture_on_commit_callbacks() as callbacks:
        asn.asn_send_retry(inbound=draft)
    assert len(callbacks) == 1
    assert AsnOutbox.objects.get(inbound=draft).status == AsnOutbox.Status.PENDING
    assert _send(draft, FakeAsnAdapter()).outcome == Outcome.SENT
    assert exception_queue(kind="asn_refused")["asn_refused"]["count"] == 0
    with pytest.raises(Conflict):
        asn.asn_send_retry(inbound=draft)


def test_cancelled_draft_is_never_sent(draft):
    asn.asn_cancel(inbound=draft)
    adapter = FakeAsnAdapter()
    assert asn.asn_send(inbound_id=draft.pk, adapter=adapter).outcome == Outcome.NOOP
    assert adapter.calls == 0


def test_sweeper_re_enqueues_a_lost_send(draft, settings, django_capture_on_commit_callbacks):
    settings.LOGISTICS_ACK_TIMEOUT_SECONDS = 1
    AsnOutbox.objects.filter(inbound=draft).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=5)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert asn.asn_sweep() == 1
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks():
        assert asn.asn_sweep() == 0  # due again only after another ack timeout


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_call_the_lsp_once(lsp):
    ProductFactory(sku="OB-A")
    inbound = asn.asn_create(
        warehouse_code="venlo", reference="PO-1", lines=[ExpectedLine("OB-A", 1)]
    )
    release = threading.Event()
    adapter = FakeAsnAdapter(pause=release)
    start = threading.Barrier(2)
    threads = [
        in_thread(lambda: asn.asn_send(inbound_id=inbound.pk, adapter=adapter), start=start)
        for _ in range(2)
    ]
    threading.Timer(0.5, release.set).start()
    for thread, _ in threads:
        thread.join(15)
    outcomes = sorted(str(box["result"].outcome) for _, box in threads)
    assert outcomes == ["noop", "sent"]
    assert adapter.calls == 1


# --- Receipt webhooks ------------------------------------------------------------------


def _receipt_payload(inbound, receipts, status="RECEIVED"):
    return {
        "type": "inbound.received",
        "timestamp": timezone.now().isoformat(),
        "data": {
            "id": f"sba_{inbound.pk}",
            "reference": inbound.number,
            "status": status,
            "receipts": [
                {"id": f"rcp_{inbound.pk}_{i}", "sku": sku, "quantity": qty}
                for i, (sku, qty) in enumerate(receipts)
            ],
        },
    }


def _on_hand(sku, warehouse):
    level = StockLevel.objects.filter(product__sku=sku, warehouse=warehouse).first()
    return level.on_hand if level else 0


def test_receipt_webhook_posts_into_the_ledger_once_and_publishes_inbound_received(
    client, provider, lsp, draft, monkeypatch
):
    published = []
    monkeypatch.setattr(asn, "partner_event_publish", lambda **kw: published.append(kw))
    _send(draft, FakeAsnAdapter())
    payload = _receipt_payload(draft, [("OB-A", 9), ("OB-B", 2)])
    assert (
        signed_post(client, provider=provider, payload=payload, msg_id="msg_1").status_code == 202
    )
    tracking.inbound_webhooks_process()
    # Redelivered as is, and the same receipts in a new delivery: nothing new either way.
    signed_post(client, provider=provider, payload=payload, msg_id="msg_1")
    signed_post(client, provider=provider, payload=payload, msg_id="msg_2")
    tracking.inbound_webhooks_process()

    assert set(InboundWebhook.objects.values_list("status", flat=True)) == {"processed"}
    assert (_on_hand("OB-A", lsp), _on_hand("OB-B", lsp)) == (9, 2)
    assert StockMovement.objects.filter(type="receipt").count() == 2
    draft.refresh_from_db()
    assert draft.status == "received"
    (event,) = published
    assert event["topic"] == "inbound.received"
    assert event["channel_id"] == draft.channel_id
    assert event["data"]["lines"][0] == {
        "sku": "OB-A",
        "expected": 10,
        "received": 9,
        "discrepancy": -1,
    }


def test_receipt_for_an_unknown_asn_leaves_the_webhook_unmatched(client, provider, lsp, draft):
    payload = _receipt_payload(draft, [("OB-A", 1)])
    payload["data"]["reference"] = "ASN-999999"
    payload["data"]["id"] = "sba_nope"
    signed_post(client, provider=provider, payload=payload)
    tracking.inbound_webhooks_process()
    assert InboundWebhook.objects.get().status == "unmatched"
    assert not StockMovement.objects.exists()


def test_in_transit_event_moves_a_sent_asn(client, provider, lsp, draft):
    _send(draft, FakeAsnAdapter())
    signed_post(client, provider=provider, payload=_receipt_payload(draft, [], status="IN_TRANSIT"))
    tracking.inbound_webhooks_process()
    draft.refresh_from_db()
    assert draft.status == "in_transit"


# --- The generic adapter against a real sandbox (in this process) ---------------------


@pytest.fixture
def sandbox():
    server, box = make_server(SandboxConfig(port=0, webhooks=False, step_seconds=60))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield box
    server.shutdown()
    box.stop()
    server.server_close()
    thread.join(5)


def test_generic_adapter_sends_the_asn_idempotently_and_cancels_it(
    draft, provider, sandbox, settings
):
    settings.OUTBOUND_ALLOW_HOSTS = [f"127.0.0.1:{sandbox.config.port}"]
    provider.base_url = sandbox.base_url
    provider.save()
    adapter = GenericHttpAdapter(provider)
    draft = InboundShipment.objects.select_related("warehouse").get(pk=draft.pk)
    first = adapter.create_inbound(draft)
    again = adapter.create_inbound(draft)  # a retry after a lost answer
    assert first.provider_reference == again.provider_reference
    assert sandbox.stats_snapshot()["inbounds"] == 1
    seen = httpx.get(f"{sandbox.base_url}/v1/inbound-shipments/{first.provider_reference}").json()
    assert seen["reference"] == draft.number
    assert seen["status"] == "ACCEPTED"
    draft.provider_reference = first.provider_reference
    adapter.cancel_inbound(draft)
    assert sandbox.inbound(first.provider_reference).status == "CANCELLED"


@pytest.fixture
def fast_short_sandbox():
    config = SandboxConfig(port=0, webhooks=False, step_seconds=0.2, asn_short_every=1)
    server, box = make_server(config)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield box
    server.shutdown()
    box.stop()
    server.server_close()
    thread.join(5)


def test_poll_only_lsp_receipts_arrive_by_polling_once(
    draft, provider, fast_short_sandbox, settings
):
    sandbox = fast_short_sandbox
    settings.OUTBOUND_ALLOW_HOSTS = [f"127.0.0.1:{sandbox.config.port}"]
    provider.base_url = sandbox.base_url
    provider.supports_webhooks = False
    provider.save()
    assert _send(draft, None).outcome == Outcome.SENT
    deadline = time.monotonic() + 10
    while sandbox.inbound(draft.provider_reference).status != "RECEIVED":
        assert time.monotonic() < deadline, "the sandbox did not receive the ASN"
        time.sleep(0.1)

    assert asn.asn_polls_due() == [draft.pk]
    assert asn.asn_poll(inbound_id=draft.pk) is True
    assert asn.asn_poll(inbound_id=draft.pk) is False  # finished: not asked again
    assert asn.asn_polls_due() == []
    draft.refresh_from_db()
    assert draft.status == "received"
    # Short by a tenth of each line, at least one unit: 10 → 9, 2 → 1.
    assert sorted(draft.lines.values_list("product__sku", "received_quantity")) == [
        ("OB-A", 9),
        ("OB-B", 1),
    ]
    assert StockMovement.objects.filter(type="receipt").count() == 2


def test_webhook_lsps_are_not_polled(draft, provider):
    _send(draft, FakeAsnAdapter())
    assert provider.supports_webhooks
    assert asn.asn_polls_due() == []


def test_sandbox_keeps_an_accepted_asn_across_a_restart_and_receives_it_after(tmp_path):
    state = str(tmp_path / "sandbox.sqlite3")
    first = Sandbox(SandboxConfig(state=state, webhooks=False, step_seconds=0.3))
    status, created = first.create_inbound(
        key="asn:ASN-1",
        body={"reference": "ASN-1", "warehouse": "w", "lines": [{"sku": "A", "quantity": 3}]},
    )
    first.stop()  # before its receipt was due
    assert status == 201
    second = Sandbox(SandboxConfig(state=state, webhooks=False, step_seconds=0.3))
    try:
        assert second.resumed[0] == 1
        replay = second.create_inbound(key="asn:ASN-1", body={})
        assert replay == (200, created)
        deadline = time.monotonic() + 10
        while second.inbound(created["id"]).status != "RECEIVED":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert second.inbound(created["id"]).receipts == [
            {"id": f"rcp_{created['id']}_0", "sku": "A", "quantity": 3}
        ]
    finally:
        second.stop()
