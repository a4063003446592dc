"""The sandbox's tracking link: a page for people, JSON for clients that ask for it."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.sandbox.test_sandbox_persistence import STRAIGHT, create, sandbox_running


@pytest.fixture
def sandbox_url(tmp_path):
    with sandbox_running(tmp_path / "state.sqlite3", step_seconds=0.05, **STRAIGHT) as (url, _):
        yield url


def _delivered(url: str, **changes) -> dict:
    created = create(url, "key-1", **changes).json()
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/v1/shipments/{created['id']}").json()["status"] != "DELIVERED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return created


def test_tracking_page_shows_status_explanation_and_events_newest_first(sandbox_url):
    created = _delivered(sandbox_url)
    page = httpx.get(created["tracking_url"])
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    assert created["tracking_number"] in html
    assert "The parcel has been delivered." in html
    rows = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>", html)
    assert rows == ["Delivered", "Out for delivery", "In transit", "Info received"]
    # A public link: the town, never the recipient's name or street.
    assert "Utrecht" in html
    assert "Jo Jansen" not in html
    assert "Kerkstraat" not in html


def test_tracking_page_escapes_what_the_shipper_sent(sandbox_url):
    ship_to = {"name": "x", "line1": "1 Road", "city": "<script>alert(1)</script>", "country": "NL"}
    created = _delivered(sandbox_url, ship_to=ship_to)
    html = httpx.get(created["tracking_url"]).text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_tracking_url_answers_json_to_clients_that_ask_for_it(sandbox_url):
    created = _delivered(sandbox_url)
    response = httpx.get(created["tracking_url"], headers={"Accept": "application/json"})
    assert response.status_code == 200
    data = response.json()
    assert data["tracking_number"] == created["tracking_number"]
    assert data["status"] == "DELIVERED"
    assert [e["status"] for e in data["events"]][-1] == "DELIVERED"


def test_a_browser_accept_header_gets_the_page(sandbox_url):
    created = _delivered(sandbox_url)
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = httpx.get(created["tracking_url"], headers={"Accept": browser})
    assert response.headers["content-type"].startswith("text/html")


def test_unknown_tracking_number_is_a_small_html_404(sandbox_url):
    response = httpx.get(f"{sandbox_url}/track/SBX<b>404")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Tracking number not found" in response.text
    assert "<b>" not in response.text
    assert "SBX&lt;b&gt;404" in response.text
    as_json = httpx.get(f"{sandbox_url}/track/NOPE", headers={"Accept": "application/json"})
    assert as_json.status_code == 404
    assert as_json.json() == {"detail": "Unknown tracking number."}
