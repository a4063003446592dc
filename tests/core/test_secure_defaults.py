"""Production is the default (issue 16 item 6): development is asked for explicitly, and
loopback outbound is allowed only for destinations listed in OUTBOUND_ALLOW_HOSTS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.checks import outbound_allow_hosts_check
from scripts import devservices

ROOT = Path(__file__).resolve().parents[2]


def _bare_env() -> dict[str, str]:
    """The environment of a deployment that set nothing about modes."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_DEBUG", "OUTBOUND_ALLOW_HOSTS")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.pop("CONSIGN_SECRETS_KEY", None)
    return env


def test_a_deployment_that_forgets_django_debug_shows_no_debug_page():
    """An unknown URL answers the plain 404, not the URLconf listing."""
    code = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/no-such-page/', secure=True, HTTP_HOST='localhost'); "
        "print(r.status_code); print(b'URLconf' in r.content)"
    )
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_bare_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    status, debug_page = result.stdout.split()[-2:]
    assert (status, debug_page) == ("404", "False")


def test_make_run_and_the_dev_tools_ask_for_development_and_list_only_the_sandbox():
    env = devservices.development_env({})
    assert env["DJANGO_DEBUG"] == "true"
    assert env["OUTBOUND_ALLOW_HOSTS"] == "127.0.0.1:8700"
    moved = devservices.development_env({"LSP_SANDBOX_URL": "http://localhost:9100"})
    assert moved["OUTBOUND_ALLOW_HOSTS"] == "localhost:9100"


def test_what_the_operator_set_wins_over_the_development_defaults():
    env = devservices.development_env({"DJANGO_DEBUG": "false", "OUTBOUND_ALLOW_HOSTS": ""})
    assert env["DJANGO_DEBUG"] == "false"
    assert env["OUTBOUND_ALLOW_HOSTS"] == ""


def test_a_malformed_allow_list_entry_fails_the_checks(settings):
    settings.OUTBOUND_ALLOW_HOSTS = ["127.0.0.1:8700", "http://x/path"]
    assert [m.id for m in outbound_allow_hosts_check(None)] == ["core.E105"]


def test_the_removed_loopback_switch_is_reported(settings, monkeypatch):
    settings.OUTBOUND_ALLOW_HOSTS = []
    monkeypatch.setenv("OUTBOUND_ALLOW_LOOPBACK", "true")
    assert [m.id for m in outbound_allow_hosts_check(None)] == ["core.W106"]


def test_make_test_lets_pytest_choose_the_test_settings():
    """Importing `config` sets DJANGO_SETTINGS_MODULE (the Celery app does); `make test`
    must not pass that on, or pytest runs on config.settings without the test settings
    (once it did: CI ran with the sandbox's port as the only loopback destination)."""
    env = _bare_env()
    env.pop("DJANGO_SETTINGS_MODULE")
    code = (
        "import os, scripts.devservices as d; "
        "print(os.environ.get('DJANGO_SETTINGS_MODULE'), "
        "d.development_env(os.environ).get('DJANGO_SETTINGS_MODULE'))"
    )
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split()[-2:] == ["config.settings", "None"]
