"""The LSP sandbox forgets nothing when it restarts: real HTTP to real sandbox servers.

Each test runs a sandbox over a state file, stops it, starts a new one over the same
file (in this process, or as `manage.py run_lsp_sandbox` killed with SIGKILL), and
checks that the new one answers for everything the first one created.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from sandbox.server import Sandbox, SandboxConfig, make_server
from sandbox.store import StateInUse
from tests.logistics.processes import Processes, free_port, make_env

SECRET = "whsec_" + base64.b64encode(b"sandbox-persistence-test-secret").decode()
BODY = {
    "reference": "ref-1",
    "order_number": "CS-000001",
    "ship_from": {"warehouse": "sandbox-venlo", "city": "Venlo", "country": "NL"},
    "ship_to": {"name": "Jo Jansen", "line1": "Kerkstraat 1", "city": "Utrecht", "country": "NL"},
    "lines": [{"sku": "MUG-1", "quantity": 2}],
}
# No detours: every plan is INFO_RECEIVED, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED.
STRAIGHT = {"exception_rate": 0.0, "failed_attempt_rate": 0.0, "return_rate": 0.0}


@contextlib.contextmanager
def sandbox_running(state: Path, *, port: int = 0, **options) -> Iterator[tuple[str, Sandbox]]:
    config = SandboxConfig(
        port=port, state=str(state), **{"webhooks": False, "step_seconds": 3600, **options}
    )
    server, sandbox = make_server(config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sandbox
    finally:
        server.shutdown()
        server.server_close()
        sandbox.stop()


def create(url: str, key: str, **changes) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/shipments", json={**BODY, **changes}, headers={"Idempotency-Key": key}
    )


def return_label(url: str, shipment_id: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/shipments/{shipment_id}/return-label",
        json={"reference": key, "items": [{"sku": "MUG-1", "quantity": 1}]},
        headers={"Idempotency-Key": key},
    )


def wait_for(predicate, *, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def state(tmp_path) -> Path:
    return tmp_path / "lsp-sandbox.sqlite3"


@pytest.fixture
def before_restart(state) -> dict:
    """What a first sandbox process created and answered, then stopped."""
    port = free_port()
    with sandbox_running(state, port=port) as (url, _):
        created = create(url, "key-1")
        returned = return_label(url, created.json()["id"], "rma-1")
        shipment = httpx.get(f"{url}/v1/shipments/{created.json()['id']}").json()
        label = httpx.get(f"{url}/v1/shipments/{created.json()['id']}/label.pdf").content
        httpx.put(
            f"{url}/_sandbox/stock",
            json={"warehouse": "sandbox-venlo", "items": [{"sku": "MUG-1", "on_hand": 10}]},
        )
        create(url, "key-2", ship_from={"warehouse": "sandbox-venlo"})
    assert created.status_code == 201
    assert returned.status_code == 201
    return {
        "port": port,
        "created": created.json(),
        "returned": returned.json(),
        "shipment": shipment,
        "label": label,
    }


@pytest.fixture
def restarted(state, before_restart) -> Iterator[str]:
    with sandbox_running(state, port=before_restart["port"]) as (url, _):
        yield url


def test_replayed_create_returns_the_same_shipment_after_a_restart(before_restart, restarted):
    again = create(restarted, "key-1")
    assert again.status_code == 200
    assert again.json() == before_restart["created"]


def test_shipment_tracking_and_label_are_served_after_a_restart(before_restart, restarted):
    shipment_id = before_restart["created"]["id"]
    shipment = httpx.get(f"{restarted}/v1/shipments/{shipment_id}").json()
    assert shipment == before_restart["shipment"]
    tracking = httpx.get(f"{restarted}/v1/shipments/{shipment_id}/tracking").json()
    assert [event["status"] for event in tracking["events"]] == ["INFO_RECEIVED"]
    label = httpx.get(f"{restarted}/v1/shipments/{shipment_id}/label.pdf")
    assert label.content == before_restart["label"]
    page = httpx.get(before_restart["created"]["tracking_url"])
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_return_labels_work_for_shipments_created_before_the_restart(before_restart, restarted):
    shipment_id = before_restart["created"]["id"]
    replayed = return_label(restarted, shipment_id, "rma-1")
    assert replayed.status_code == 200
    assert replayed.json() == before_restart["returned"]
    another = return_label(restarted, shipment_id, "rma-2")
    assert another.status_code == 201
    assert another.json()["return_of"] == shipment_id


def test_cancel_works_after_a_restart(before_restart, restarted):
    shipment_id = before_restart["created"]["id"]
    cancelled = httpx.post(f"{restarted}/v1/shipments/{shipment_id}/cancel", json={})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"
    tracking = httpx.get(f"{restarted}/v1/shipments/{shipment_id}/tracking").json()
    assert tracking["events"][-1]["status"] == "CANCELLED"


def test_numbers_continue_after_a_restart_without_reuse(before_restart, restarted):
    # Before: sbx_…1, its return sbr_…2, sbx_…3. The next is 4, whatever kind it is.
    fresh = create(restarted, "key-3").json()
    assert fresh["id"] == "sbx_00000004"
    assert fresh["tracking_number"] == "SBX0000000004"
    another_return = return_label(restarted, fresh["id"], "rma-3").json()
    assert another_return["id"] == "sbr_00000005"
    listed = httpx.get(f"{restarted}/_sandbox/shipments").json()
    ids = [s["id"] for s in listed["shipments"]]
    assert len(ids) == len(set(ids)) == listed["count"] == 5


def test_stock_snapshots_survive_a_restart(before_restart, restarted):
    stock = httpx.get(f"{restarted}/v1/stock?warehouse=sandbox-venlo").json()
    # 10 on hand, then a shipment of 2 taken after the snapshot.
    assert stock["items"] == [{"sku": "MUG-1", "on_hand": 8}]


def test_unfinished_shipments_keep_advancing_after_a_restart(state):
    port = free_port()
    with sandbox_running(state, port=port, step_seconds=0.4, **STRAIGHT) as (url, _):
        created = create(url, "key-1").json()
    # Stopped after the first step; the rest fell due (or falls due) while it is down.
    time.sleep(0.5)
    with sandbox_running(state, port=port, step_seconds=0.4, **STRAIGHT) as (url, sandbox):
        assert sandbox.resumed[0] >= 1

        def delivered():
            tracking = httpx.get(f"{url}/v1/shipments/{created['id']}/tracking").json()
            return tracking if tracking["status"] == "DELIVERED" else None

        tracking = wait_for(delivered)
    statuses = [event["status"] for event in tracking["events"]]
    assert statuses == ["INFO_RECEIVED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]
    # Each step is dated when it was planned, not when the restarted sandbox caught up.
    times = [event["occurred_at"] for event in tracking["events"]]
    assert times == sorted(times)
    assert len({event["id"] for event in tracking["events"]}) == 4


def test_a_restarted_sandbox_does_not_apply_a_step_twice(state):
    port = free_port()
    with sandbox_running(state, port=port, step_seconds=0.2, **STRAIGHT) as (url, _):
        created = create(url, "key-1").json()
        wait_for(
            lambda: httpx.get(f"{url}/v1/shipments/{created['id']}").json()["status"] == "DELIVERED"
        )
    with sandbox_running(state, port=port, step_seconds=0.2, **STRAIGHT) as (url, sandbox):
        assert sandbox.resumed == (0, 0)
        time.sleep(0.3)
        tracking = httpx.get(f"{url}/v1/shipments/{created['id']}/tracking").json()
    assert len(tracking["events"]) == 4


class _Receiver:
    """A Consign stand-in for webhooks: answers `status`, keeps the accepted bodies."""

    def __init__(self) -> None:
        self.status = 503
        self.accepted: list[tuple[dict, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.status < 300:
                    receiver.accepted.append((dict(self.headers), json.loads(body)))
                    receiver.raw = body
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhooks_not_yet_delivered_are_sent_after_a_restart(state):
    receiver = _Receiver()
    port = free_port()
    options = {"webhooks": True, "consign_url": receiver.url, "webhook_secret": SECRET}
    try:
        with sandbox_running(state, port=port, **options) as (url, sandbox):
            created = create(url, "key-1").json()
            wait_for(lambda: sandbox.stats["webhooks_failed"] >= 1)
        receiver.status = 204
        with sandbox_running(state, port=port, **options) as (url, sandbox):
            assert sandbox.resumed[1] == 1
            headers, message = wait_for(lambda: receiver.accepted and receiver.accepted[0])
    finally:
        receiver.close()
    assert message["data"]["shipment_id"] == created["id"]
    assert message["data"]["event"]["status"] == "INFO_RECEIVED"
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + receiver.raw
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_reset_forgets_shipments_but_never_reuses_numbers(state):
    port = free_port()
    with sandbox_running(state, port=port) as (url, _):
        first = create(url, "key-1").json()
        assert httpx.post(f"{url}/_sandbox/reset", json={}).json() == {"status": "reset"}
        assert httpx.get(f"{url}/v1/shipments/{first['id']}").status_code == 404
    with sandbox_running(state, port=port) as (url, _):
        assert httpx.get(f"{url}/_sandbox/stats").json()["shipments"] == 0
        again = create(url, "key-1").json()
    assert again["id"] == "sbx_00000002"


def test_two_sandboxes_cannot_share_a_state_file(state):
    with sandbox_running(state), pytest.raises(StateInUse), sandbox_running(state):
        pass


def test_memory_state_is_forgotten_on_restart():
    port = free_port()
    with sandbox_running(Path(":memory:"), port=port) as (url, _):
        created = create(url, "key-1").json()
    with sandbox_running(Path(":memory:"), port=port) as (url, _):
        assert httpx.get(f"{url}/v1/shipments/{created['id']}").status_code == 404


@pytest.mark.integration
def test_the_sandbox_process_killed_with_sigkill_comes_back_with_its_shipments(tmp_path):
    procs = Processes(tmp=tmp_path, env=make_env())
    state, port = tmp_path / "sandbox.sqlite3", free_port()
    flags = ["--step-seconds", "3600", "--no-webhooks"]
    start = {"consign_url": "http://127.0.0.1:9", "secret": SECRET, "flags": flags}
    try:
        url = procs.start_sandbox(**start, state=state, port=port)
        created = create(url, "key-1").json()
        returned = return_label(url, created["id"], "rma-1").json()
        procs.kill("sandbox")
        url = procs.start_sandbox(**start, state=state, port=port)
        assert create(url, "key-1").json() == created
        assert return_label(url, created["id"], "rma-1").json() == returned
        tracking = httpx.get(f"{url}/v1/shipments/{created['id']}/tracking").json()
        assert tracking["tracking_number"] == created["tracking_number"]
        assert create(url, "key-2").json()["id"] == "sbx_00000003"
    except Exception:
        print(procs.logs())  # noqa: T201 - shown with the failure
        raise
    finally:
        procs.stop_all()
