"""Property-based contract test: schemathesis runs every operation of /api/schema/ against
gunicorn with all its checks; it must find no 5xx and no response that violates the schema.

The run is deterministic: with the fixed seed, every run sends the same requests in
the same order and gets the same answers, so a failure in CI is a regression, not
luck. A seed alone did not give that (a clean clone failed one CI run in two, ST201
on `POST /orders/{number}/cancel/` with `{"reason": 0}`):

- Two schemathesis workers ran operations concurrently, and the server's state is
  shared between operations. Idempotency-Keys are per API key across endpoints, and
  schemathesis sends the same few key values with every POST body it tries, so most
  bodies met "Idempotency-Key reused with a different request" (422) before they
  were read. Whether `{"reason": 0}` got that 422 (pass) or reached the serializer
  (200: the bug) depended on which request of which operation had used the key
  first. Schemathesis also reuses values from responses and from 422 error details
  across operations, so the interleaving changed the generated data as well. Now
  one worker (`--workers 1`) runs the operations in a fixed order, and
  schemathesis_hooks.py gives each request a key derived from the request itself
  (same request, same key and a replay; another request, another key), so bodies
  reach validation in every run and a type bug is found every time.
- The data the API answers with depended on the session: the order-number sequence
  and the tables' id sequences keep counting across tests (`GREATEST(last_value,
  1000)` moved with earlier tests), and the factories took names and addresses from
  Faker and from per-process counters. Sequences are now reset
  (`django_db_reset_sequences`, order numbers to 1000) and the fixture's rows carry
  explicit values.
- Hypothesis' `too_slow` health check measures the machine; it is suppressed in
  schemathesis.toml, as is schemathesis' on-disk cache (crashes and error feedback
  replayed by a later run), and the example database is off (`--generation-database
  none`). The run's working directory is a fresh tmp_path.

What still varies is the clock: created_at/updated_at in responses, which
schemathesis may reuse as date-time values. They are opaque there (which one is
drawn does not depend on its content), so runs differ only in those timestamps.
"""

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
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


PLACED_AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def schemathesis_key(django_db_reset_sequences):
    """A channel with products, a service level and orders the examples refer to.

    Every value the API can answer with is fixed here (no Faker, no factory
    counters, ids from reset sequences), so each run sees the same world.
    """
    with connection.cursor() as cursor:
        # The schema's examples name CS-000001; created orders are CS-001001 onwards.
        cursor.execute("SELECT setval('orders_order_number_seq', 1000)")
    # catalogue_write: the catalogue's PUT and batch reach their validation (not 403).
    channel = ChannelFactory(code="webshop", name="Webshop", catalogue_write=True)
    for sku in ("TSHIRT-BLK-M", "MUG-WHITE"):
        ProductFactory(sku=sku, name=sku, barcode=None, customs_value=Decimal("10.00"))
    ServiceLevelFactory(provider__code="sandbox", provider__name="Sandbox", code="standard")
    for number, status in (("CS-000001", "received"), ("CS-000002", "shipped")):
        OrderFactory(
            channel=channel,
            number=number,
            status=status,
            external_reference=f"EXT-{number}",
            customer_email="ada@example.com",
            customer_name="Ada Lovelace",
            shipping_line1="12 St James's Square",
            placed_at=PLACED_AT,
        )
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
        # One worker: concurrent operations share the server's state and schemathesis'
        # pools of observed values, so their interleaving would change the run.
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
    ]
    # A fixed seed by default so that a failure in CI can be replayed exactly;
    # SCHEMATHESIS_SEED=random explores new inputs, any other value picks a seed.
    seed = os.environ.get("SCHEMATHESIS_SEED", DEFAULT_SEED)
    if seed != "random":
        command += ["--seed", seed]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py")}
    result = subprocess.run(  # noqa: S603 - fixed argv
        command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path, env=env
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-15000:]
    # Every operation of the schema was run (other apps add their own to /api/v1/).
    selected = re.search(r"Operations:\s+(\d+) selected / (\d+) total", output)
    assert selected, output[-3000:]
    assert selected[1] == selected[2], selected[0]
    assert int(selected[1]) >= 6, selected[0]
