"""Property-based contract test: schemathesis runs every operation of /api/schema/ against
gunicorn with all its checks; it must find no 5xx and no response that violates the schema."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from partners.services import api_key_create
from tests.inventory.factories import ProductFactory
from tests.logistics.factories import ServiceLevelFactory
from tests.orders.factories import ChannelFactory, OrderFactory

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
# Bounded so the run takes well under a minute on 2 cores; raise locally for a deeper search.
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25")


@pytest.fixture
def schemathesis_key(transactional_db):
    """A channel with products, a service level and orders the examples refer to."""
    with connection.cursor() as cursor:
        # The schema's examples name CS-000001; keep the sequence clear of it.
        cursor.execute(
            "SELECT setval('orders_order_number_seq', "
            "GREATEST((SELECT last_value FROM orders_order_number_seq), 1000))"
        )
    channel = ChannelFactory(code="webshop")
    for sku in ("TSHIRT-BLK-M", "MUG-WHITE"):
        ProductFactory(sku=sku)
    ServiceLevelFactory(provider__code="sandbox", code="standard")
    OrderFactory(channel=channel, number="CS-000001")
    OrderFactory(channel=channel, number="CS-000002", status="shipped")
    _, raw = api_key_create(channel=channel, name="schemathesis")
    return raw


DEFAULT_SEED = "20261125"


def test_api_conforms_to_its_schema(gunicorn_url, schemathesis_key, tmp_path):
    command = [
        sys.executable,
        str(HERE / "run_schemathesis.py"),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{gunicorn_url}/api/schema/",
        "--header",
        f"Authorization: Bearer {schemathesis_key}",
        "--checks",
        "all",
        "--max-examples",
        MAX_EXAMPLES,
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--no-color",
    ]
    # A fixed seed by default so that a failure in CI can be replayed exactly;
    # SCHEMATHESIS_SEED=random explores new inputs, any other value picks a seed.
    seed = os.environ.get("SCHEMATHESIS_SEED", DEFAULT_SEED)
    if seed != "random":
        command += ["--seed", seed]
    result = subprocess.run(  # noqa: S603 - fixed argv
        command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-15000:]
    # Every operation of the schema was run (other apps add their own to /api/v1/).
    selected = re.search(r"Operations:\s+(\d+) selected / (\d+) total", output)
    assert selected, output[-3000:]
    assert selected[1] == selected[2], selected[0]
    assert int(selected[1]) >= 6, selected[0]
