"""seed_demo makes the LSP sandbox know every dispatched demo shipment it "carries".

A real sandbox server runs over the state file seed_demo writes to (as `make run`
starts both at once), and Consign's adapter talks to it over HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from io import StringIO

import httpx
import pytest
from django.core.management import call_command

from demo import sandbox as demo_sandbox
from logistics.adapters.generic_http import GenericHttpAdapter
from logistics.models import Provider, Shipment, TrackingEvent
from orders.models import Order
from sandbox import store as sandbox_store
from tests.logistics.factories import ShipmentFactory
from tests.sandbox.test_sandbox_persistence import create, sandbox_running

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def sandbox(settings, tmp_path):
    """A sandbox serving the state file seed_demo writes to, at LSP_SANDBOX_URL."""
    state = tmp_path / "lsp-sandbox.sqlite3"
    with sandbox_running(state) as (url, running):
        settings.LSP_SANDBOX_URL = url
        settings.LSP_SANDBOX_STATE = str(state)
        yield url, running, state


def _seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", workers=1, stdout=out, **options)
    return out.getvalue()


def _demo_shipments():
    return Shipment.objects.filter(
        provider__code__in=["sandbox", "fulfilnet"], order__external_reference__startswith="DEMO-"
    ).exclude(tracking_number="")


def test_every_dispatched_demo_shipment_is_registered(sandbox):
    _, _, state = sandbox
    out = _seed()
    references = set(_demo_shipments().values_list("provider_reference", flat=True))
    assert references
    assert sandbox_store.demo_shipment_ids(state) == references
    assert f"{len(references)} demo shipments" in out


def test_generated_orders_are_registered_as_they_are_written(sandbox):
    _, _, state = sandbox
    _seed()
    before = sandbox_store.demo_shipment_ids(state)
    _seed(orders=40, seed=7)
    generated = set(
        Shipment.objects.filter(provider__code__in=["sandbox", "fulfilnet"])
        .exclude(order__external_reference__startswith="DEMO-")
        .exclude(tracking_number="")
        .values_list("provider_reference", flat=True)
    )
    assert generated
    assert sandbox_store.demo_shipment_ids(state) == before | generated


def test_a_delivered_demo_order_is_tracked_and_returnable_at_the_sandbox(sandbox):
    url, _, _ = sandbox
    _seed()
    shipment = _demo_shipments().filter(status=Shipment.Status.DELIVERED).first()
    adapter = GenericHttpAdapter(shipment.provider)

    # A tracking poll finds exactly the events Consign has: nothing new.
    updates = adapter.fetch_tracking(shipment)
    stored = set(TrackingEvent.objects.filter(shipment=shipment).values_list("dedup_key", "status"))
    assert {(u.event_id, u.status) for u in updates} == stored
    assert updates[-1].status == "delivered"
    assert {u.occurred_at for u in updates} == set(
        TrackingEvent.objects.filter(shipment=shipment).values_list("occurred_at", flat=True)
    )

    label = adapter.create_return_label(shipment, idempotency_key="demo-rma-1", items=[])
    assert label.tracking_number.startswith("RSBX")

    page = httpx.get(shipment.provider.tracking_url_template.format(**vars(shipment)))
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "Delivered" in page.text
    pdf = httpx.get(shipment.label_url)
    assert pdf.content.startswith(b"%PDF")


def test_a_dispatched_demo_shipment_can_be_cancelled_at_the_sandbox(sandbox):
    _seed()
    shipment = _demo_shipments().filter(status=Shipment.Status.DISPATCHED).first()
    GenericHttpAdapter(shipment.provider).cancel_shipment(shipment)
    tracking = GenericHttpAdapter(shipment.provider).fetch_tracking(shipment)
    assert tracking[-1].status == "cancelled"


def test_a_replayed_create_for_a_demo_shipment_returns_it(sandbox):
    url, _, _ = sandbox
    _seed()
    shipment = _demo_shipments().first()
    replay = create(url, str(shipment.idempotency_token))
    assert replay.status_code == 200
    assert replay.json()["id"] == shipment.provider_reference
    assert replay.json()["tracking_number"] == shipment.tracking_number


def test_sync_restores_a_lost_state_file_and_a_second_sync_adds_nothing(sandbox, tmp_path):
    _seed()
    other = str(tmp_path / "new.sqlite3")
    first = demo_sandbox.demo_sandbox_sync(state=other)
    again = demo_sandbox.demo_sandbox_sync(state=other)
    assert first.added == first.demo_shipments == _demo_shipments().count()
    assert again.added == 0


def test_sync_builds_the_same_records_as_the_generator(sandbox, tmp_path):
    """The SQL of the sync (repairs) and the Python of the generator describe alike."""
    _, _, state = sandbox
    _seed(orders=30, seed=11)
    repaired = str(tmp_path / "repaired.sqlite3")
    demo_sandbox.demo_sandbox_sync(state=repaired)
    generated, synced = _rows(state), _rows(repaired)
    assert generated.keys() == synced.keys()
    assert generated == synced


def _rows(path) -> dict:
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT id, idem_key, tracking_number, status, request, response, events, plan,"
        " applied, pending, created_at FROM shipments WHERE origin = 'demo'"
    ).fetchall()
    conn.close()
    out = {}
    for row in rows:
        events = json.loads(row[6])
        for event in events:
            event["occurred_at"] = dt.datetime.fromisoformat(event["occurred_at"])
        out[row[0]] = (
            row[1],
            row[2],
            row[3],
            json.loads(row[4]),
            json.loads(row[5]) if row[5] else None,
            events,
            json.loads(row[7]),
            row[8],
            row[9],
            round(row[10], 3),
        )
    return out


def test_sync_raises_the_number_counter_above_references_consign_holds(sandbox, tmp_path):
    _seed()
    provider = Provider.objects.get(code="sandbox")
    ShipmentFactory(
        provider=provider,
        order=Order.objects.first(),
        provider_reference="sbx_00000500",
        tracking_number="SBX0000000500",
    )
    fresh = tmp_path / "fresh.sqlite3"
    demo_sandbox.demo_sandbox_sync(state=str(fresh))
    with sandbox_running(fresh) as (url, _):
        created = create(url, "after-a-lost-file").json()
    assert created["id"] == "sbx_00000501"


def test_no_state_file_is_written_for_a_sandbox_on_another_host(settings, tmp_path):
    settings.LSP_SANDBOX_URL = "https://lsp.example.com"
    settings.LSP_SANDBOX_STATE = ""
    assert demo_sandbox.sandbox_state_for_demo() is None
    out = _seed()
    assert "demo shipments not registered" in out
