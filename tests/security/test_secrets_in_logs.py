"""API keys: created, used, refused and revoked with every logger at DEBUG captured to a
file, which is then searched for the raw key. Only the prefix may appear."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from partners.models import ApiKey
from partners.services import api_key_revoke
from tests.fixtures.log_audit import EverythingFormatter, raw_keys_in
from tests.orders.factories import ChannelFactory


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "all.log"
    handler = logging.FileHandler(path)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(EverythingFormatter())
    loggers = [logging.getLogger(n) for n in ("", "consign.security", "django.security")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield path
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)
    handler.close()


def test_key_lifecycle_logs_the_prefix_never_the_key(db, log_file):
    ChannelFactory(code="webshop")
    out = io.StringIO()
    call_command("create_api_key", "webshop", "--name", "audit", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    api_key = ApiKey.objects.get(prefix=raw[:12])

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/orders/").status_code == 200
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION=f"Bearer {raw[:-1]}x")
    assert wrong.get("/api/v1/orders/").status_code == 401
    api_key_revoke(api_key=api_key)
    assert client.get("/api/v1/orders/").status_code == 401

    text = log_file.read_text()
    assert raw not in text
    assert raw[:-1] not in text
    assert raw_keys_in(text) == []
    for event in ("api_key.created", "api_key.used", "api_key.rejected", "api_key.revoked"):
        assert event in text
    assert api_key.prefix in text


def test_detector_finds_a_raw_key():
    assert raw_keys_in("x csk_" + "A" * 43 + " y")
    assert raw_keys_in("csk_AbCdEfGh used") == []
