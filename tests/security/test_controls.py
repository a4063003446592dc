"""Security controls: login throttling, headers/CSP, production settings, CSV escaping,
upload limits, constant-time comparisons."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from core.csv_safe import csv_cell, csv_row

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/admin/login/"


def _events(caplog, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == name]


def _fail_login(client, username: str):
    return client.post(LOGIN, {"username": username, "password": "wrong", "next": "/admin/"})


# --- login throttling + security log ------------------------------------------------


@pytest.fixture
def throttled(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return settings


def test_failed_logins_lock_the_account_out_with_a_stated_cooloff(throttled, client, agent):
    for _ in range(2):
        assert _fail_login(client, "agent").status_code == 200
    response = _fail_login(client, "agent")
    assert response.status_code == 429
    assert int(response["Retry-After"]) == int(throttled.AXES_COOLOFF_TIME.total_seconds())
    assert b"locked" in response.content
    assert b"15 minutes" in response.content


def test_locked_out_account_is_refused_even_with_the_right_password(throttled, client, agent):
    for _ in range(3):
        _fail_login(client, "agent")
    response = client.post(LOGIN, {"username": "agent", "password": "pw-test-123!"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_so_other_staff_can_still_log_in(throttled, client, agent, manager):
    for _ in range(3):
        _fail_login(client, "agent")
    response = client.post(LOGIN, {"username": "manager", "password": "pw-test-123!"})
    assert response.status_code == 302


def test_failures_from_many_ips_lock_the_username_on_every_ip(
    throttled, client, agent, manager, caplog
):
    caplog.set_level(logging.INFO, logger="consign.security")
    throttled.LOGIN_USERNAME_FAILURE_LIMIT = 5
    # Two misses per address: never the per-address limit (3), five in all.
    for address in ("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.3"):
        client.post(LOGIN, {"username": "agent", "password": "wrong"}, REMOTE_ADDR=address)
    fresh = {"username": "agent", "password": "pw-test-123!"}
    response = client.post(LOGIN, fresh, REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert b"from every network" in response.content
    assert b"5 failed attempts" in response.content
    assert [r.scope for r in _events(caplog, "login.locked_out")][-1] == "username"
    # Only that username: the same addresses can still log in as someone else.
    other = client.post(
        LOGIN, {"username": "manager", "password": "pw-test-123!"}, REMOTE_ADDR="10.0.0.1"
    )
    assert other.status_code == 302


def test_below_the_username_ceiling_a_new_ip_still_logs_in(throttled, client, agent):
    throttled.LOGIN_USERNAME_FAILURE_LIMIT = 5
    for address in ("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"):
        client.post(LOGIN, {"username": "agent", "password": "wrong"}, REMOTE_ADDR=address)
    response = client.post(
        LOGIN, {"username": "agent", "password": "pw-test-123!"}, REMOTE_ADDR="10.0.0.9"
    )
    assert response.status_code == 302


def test_login_failure_and_lockout_are_logged_with_user_and_ip(throttled, client, agent, caplog):
    caplog.set_level(logging.INFO, logger="consign.security")
    for _ in range(3):
        _fail_login(client, "agent")
    failed = _events(caplog, "login.failed")
    locked = _events(caplog, "login.locked_out")
    assert len(failed) >= 2
    assert locked
    for record in failed + locked:
        assert record.user == "agent"
        assert record.ip == "127.0.0.1"


def test_successful_login_is_logged(client, agent, caplog):
    caplog.set_level(logging.INFO, logger="consign.security")
    response = client.post(LOGIN, {"username": "agent", "password": "pw-test-123!"})
    assert response.status_code == 302
    [record] = _events(caplog, "login.succeeded")
    assert record.user == "agent"


def test_security_log_lines_are_json_in_utc_without_secrets():
    from core.security_log import JsonFormatter

    record = logging.LogRecord("consign.security", logging.INFO, "", 0, "login.failed", None, None)
    record.event = "login.failed"
    record.user = "agent"
    record.password = "hunter2"  # noqa: S105 - must be dropped
    line = json.loads(JsonFormatter().format(record))
    assert line["ts"].endswith("+00:00")
    assert line["event"] == "login.failed"
    assert line["user"] == "agent"
    assert "password" not in line


# --- headers and CSP ---------------------------------------------------------------


def test_pages_carry_a_strict_content_security_policy(client, agent):
    client.force_login(agent)
    response = client.get(reverse("backoffice:desk"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/no-such-page/", 404),
        ("get", "/desk/orders/CS-999999/", 404),
        ("post", "/ops/dashboard/", 405),
        ("post", "/healthz", 405),
        ("get", "/api/no-such-page", 404),
        ("get", "/api/v1/no-such-page/", 404),
        ("get", "/webhooks/no-such-page/", 404),
        ("get", "/webhooks/lsp/sandbox/", 405),
    ],
)
def test_error_pages_carry_a_content_security_policy(client, manager, method, path, status):
    """Issue 16 item 7: the header is on every answer, 404 and 405 pages included."""
    client.force_login(manager)
    response = getattr(client, method)(path)
    assert response.status_code == status
    policy = response.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


def test_database_outage_page_carries_a_content_security_policy(rf):
    from core.middleware import CSPFallbackMiddleware, database_unavailable

    response = CSPFallbackMiddleware(database_unavailable)(rf.get("/desk/"))
    assert response.status_code == 503
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_pages_deny_framing_and_leak_no_referrer(client, agent):
    client.force_login(agent)
    response = client.get(reverse("backoffice:desk"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


TEMPLATE_DIRS = [p for p in ROOT.glob("*/templates") if p.is_dir()] + [ROOT / "templates"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=", re.IGNORECASE)


def test_our_templates_have_no_inline_script_handler_or_style():
    offenders = []
    for directory in TEMPLATE_DIRS:
        for template in directory.rglob("*.html"):
            text = template.read_text()
            for pattern in (INLINE_SCRIPT, INLINE_HANDLER, INLINE_STYLE):
                if pattern.search(text):
                    offenders.append(f"{template.relative_to(ROOT)}: {pattern.pattern}")
    assert offenders == []


def _production_settings(*names: str) -> dict:
    env = dict(os.environ)
    env.update(DJANGO_SECRET_KEY=secrets.token_urlsafe(64))
    # Production is what a deployment gets when it sets nothing: no DJANGO_DEBUG at all.
    for name in ("DJANGO_DEBUG", "OUTBOUND_ALLOW_HOSTS", "CONSIGN_SECRETS_KEY"):
        env.pop(name, None)
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))"
    )
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_is_the_default_with_secure_cookies_hsts_and_no_loopback():
    values = _production_settings(
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SAMESITE",
        "SECURE_HSTS_SECONDS",
        "SECURE_SSL_REDIRECT",
        "OUTBOUND_ALLOW_HOSTS",
    )
    assert values == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_SSL_REDIRECT": True,
        "OUTBOUND_ALLOW_HOSTS": [],
    }


# --- CSV formula escaping ------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\0=1", "\r=1"]
)
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(value):
    escaped = csv_cell(value)
    assert escaped.startswith("'")
    assert "\0" not in escaped


def test_csv_keeps_plain_text_and_numbers():
    assert csv_row(["CS-000123", "Ada", 3, -2, None]) == ["CS-000123", "Ada", 3, -2, ""]


# --- upload limits -------------------------------------------------------------------


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversized_form_post_is_refused_with_the_limit_named(client, manager):
    client.force_login(manager)
    response = client.post(reverse("backoffice:bulk_hold"), {"q": "x" * 5000})
    assert response.status_code == 413
    assert b"too large" in response.content


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=5)
def test_form_with_too_many_fields_is_refused_with_the_limit_named(client, manager):
    client.force_login(manager)
    response = client.post(reverse("backoffice:bulk_hold"), {f"f{i}": "1" for i in range(20)})
    assert response.status_code == 400
    assert b"Too many form fields" in response.content


@override_settings(DATA_UPLOAD_MAX_NUMBER_FILES=1)
def test_too_many_files_are_refused_with_the_limit_named(client, manager):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(manager)
    files = {f"file{i}": SimpleUploadedFile(f"f{i}.csv", b"sku,on_hand\n") for i in range(3)}
    response = client.post(reverse("backoffice:bulk_hold"), files)
    assert response.status_code == 400
    assert b"Too many files" in response.content


# --- constant-time comparisons ---------------------------------------------------------


def test_api_key_lookup_ends_with_a_constant_time_comparison(db, api_key, monkeypatch):
    import hmac

    from partners import selectors

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(selectors.hmac, "compare_digest", spy)
    assert selectors.api_key_for_raw_key(raw_key=api_key[1]) == api_key[0]
    assert calls


def test_webhook_signature_with_non_ascii_bytes_is_a_clean_refusal():
    from logistics import webhook_signing

    headers = webhook_signing.sign_headers(secret="whsec_c2VjcmV0", body=b"{}")
    headers["webhook-signature"] = "v1,é"
    with pytest.raises(webhook_signing.WebhookVerificationError):
        webhook_signing.verify(secret="whsec_c2VjcmV0", headers=headers, body=b"{}")


def test_api_docs_run_without_inline_scripts(db):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src
    assert not INLINE_SCRIPT.search(response.content.decode())
    script = APIClient().get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()
