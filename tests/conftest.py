import os

import pytest

pytest_plugins = [
    "tests.fixtures.domain",
    "tests.fixtures.admin_book",
    "tests.fixtures.api",
    "tests.fixtures.live",
    "tests.fixtures.generated_client",
    "tests.fixtures.carrier_http",
    # Fails the run if any log line of it holds a raw API key.
    "tests.fixtures.log_audit",
]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config, items):
    """Long tests with real processes first: under `pytest -n 2` (make test) they then run
    beside the quick ones instead of leaving one worker alone at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failed test: a missing service, worker or browser must not pass."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"Skipped under CI=true, which counts as a failure: {report.longrepr}"


@pytest.fixture(autouse=True, scope="session")
def _no_shared_sandbox_state():
    """seed_demo in a test must not register test shipments in the developer's sandbox file.

    Tests that want the registration set LSP_SANDBOX_STATE to a file of their own.
    """
    from django.conf import settings

    settings.LSP_SANDBOX_STATE = ":memory:"


@pytest.fixture(autouse=True, scope="session")
def _no_demo_invoice_in_var(tmp_path_factory):
    """seed_demo in a test must not overwrite the developer's example invoice in var/."""
    from demo import economics

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(economics, "DEFAULT_INVOICE_DIR", tmp_path_factory.mktemp("demo-invoice"))
        yield


@pytest.fixture(autouse=True)
def _fresh_routing_tables():
    """Each test routes with the rule sets, sites, cards and calendars it made itself:
    the per-process caches (routing/tables.py, logistics/promise_tables.py) outlive the
    rolled-back rows of the test before."""
    from logistics.promise_tables import promise_tables_invalidate
    from routing.tables import routing_tables_invalidate

    routing_tables_invalidate()
    promise_tables_invalidate()


@pytest.fixture(autouse=True)
def _fresh_auth_failure_counter():
    """Each test starts with no API auth failures counted for the test clients' address.

    The per-IP counter (partners/throttling.py) lives in Redis across tests; without this,
    a test could get 429 for the 401s of the tests before it.
    """
    from partners.throttling import auth_failures_reset

    auth_failures_reset(ip="127.0.0.1")
