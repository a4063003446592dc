"""gunicorn as `make run` starts it (Procfile + gunicorn.conf.py): a redacted access log, and
problem+json for the requests gunicorn answers itself (core/gunicorn_support.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from core.gunicorn_support import redact_query, redact_url
from partners.services import api_key_create
from tests.fixtures.live import _database_url, gunicorn_running
from tests.orders.factories import ChannelFactory

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "ada.lovelace@example.com"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=ada%40example.com", "q=REDACTED"),
        ("q=ada@example.com&status=shipped&page=", "q=REDACTED&status=REDACTED&page="),
        ("by_warehouse", "by_warehouse"),
        ("ada@example.com", "REDACTED"),
        ("email=a@b.c&email=d@e.f", "email=REDACTED&email=REDACTED"),
        ("", ""),
    ],
)
def test_query_values_are_redacted_and_names_kept(query, expected):
    assert redact_query(query) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/desk/?q=ada@example.com", "/desk/?q=REDACTED"),
        ("https://consign.test/desk/?q=0612345678#top", "https://consign.test/desk/?q=REDACTED"),
        ("/desk/orders/CS-000123/", "/desk/orders/CS-000123/"),
        ("-", "-"),
    ],
)
def test_urls_keep_their_path_and_lose_query_values(url, expected):
    assert redact_url(url) == expected


@pytest.fixture
def served(transactional_db, tmp_path):
    """gunicorn started the way the Procfile starts it, with its access log in a file."""
    access_log = tmp_path / "access.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_DEBUG": "false",
        "CONSIGN_SECRETS_KEY": ",".join(settings.CONSIGN_SECRETS_KEY),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "ERROR",
    }
    args = ["config.wsgi", "--workers", "1", "--threads", "2", "--access-logfile", str(access_log)]
    with gunicorn_running(args, env, start_timeout=60) as url:
        yield url, access_log


def _log_text(access_log: Path, *paths: str) -> str:
    """The access log once it has a line for each of `paths` (gunicorn writes it behind)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = access_log.read_text()
        if all(f"GET {path}" in text for path in paths):
            return text
        time.sleep(0.1)
    return access_log.read_text()


@pytest.mark.integration
def test_access_log_holds_no_query_string_values(served):
    url, access_log = served
    httpx.get(f"{url}/desk/", params={"q": EMAIL}, headers={"Referer": f"{url}/desk/?q={EMAIL}"})
    httpx.get(f"{url}/api/v1/orders/", params={"email": EMAIL, "status": "shipped"})
    text = _log_text(access_log, "/desk/", "/api/v1/orders/")
    assert "/desk/?q=REDACTED" in text
    assert "/api/v1/orders/?email=REDACTED&status=REDACTED" in text
    for leaked in (EMAIL, "ada.lovelace%40example.com", "shipped"):
        assert leaked not in text


@pytest.mark.integration
def test_an_oversized_header_is_answered_with_problem_json_not_html(served):
    url, access_log = served
    response = httpx.post(
        f"{url}/api/v1/orders/",
        content=b"{}",
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer csk_x",
            "Idempotency-Key": "k" * 100_000,
        },
    )
    assert response.status_code == 431
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 431
    assert body["code"] == "request_header_fields_too_large"
    assert "8190 bytes" in body["detail"]
    assert {"type", "title", "detail"} <= body.keys()
    # Under the header ceiling, an over-long key reaches Django: its own 400 problem.
    _, raw = api_key_create(channel=ChannelFactory(code="gunicorn"))
    response = httpx.post(
        f"{url}/api/v1/orders/",
        content=b"{}",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {raw}",
            "Idempotency-Key": "k" * 5000,
        },
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_invalid"


@pytest.mark.integration
def test_a_malformed_request_line_is_answered_with_problem_json(served):
    import socket

    url, _ = served
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /desk/?q=" + EMAIL.encode() + b" HTTP/9.9\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"Content-Type: application/problem+json" in head
    assert b"<html" not in body
