"""Fetching LSP stock snapshots over HTTP from the real sandbox service."""

import threading

import httpx
import pytest

from inventory.models import StockSnapshot, Warehouse
from inventory.selectors import snapshot_differences
from logistics.services.stock_reconciliation import snapshots_fetch_from_lsps
from sandbox.server import SandboxConfig, make_server
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import product, stock
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox_url():
    server, _ = make_server(SandboxConfig(port=0, webhooks=False, step_seconds=3600))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def lsp_site(sandbox_url):
    provider = ProviderFactory(code="sandbox", base_url=sandbox_url, adapter="generic_http")
    return WarehouseFactory(code="lsp-nl", kind=Warehouse.Kind.LSP, provider=provider)


def _lsp_holds(url, warehouse, items):
    response = httpx.put(f"{url}/_sandbox/stock", json={"warehouse": warehouse, "items": items})
    response.raise_for_status()


def test_snapshot_with_differences_is_recorded_for_review(sandbox_url, lsp_site):
    shirt = product("SHIRT")
    stock(shirt, lsp_site, 10)
    _lsp_holds(sandbox_url, "lsp-nl", [{"sku": "SHIRT", "on_hand": 7}])

    [snapshot] = snapshots_fetch_from_lsps()

    assert snapshot.source == StockSnapshot.Source.API
    assert [(d["sku"], d["difference"]) for d in snapshot_differences(snapshot=snapshot)] == [
        ("SHIRT", -3)
    ]


def test_matching_snapshot_leaves_nothing_to_review(sandbox_url, lsp_site):
    stock(product("SHIRT"), lsp_site, 10)
    _lsp_holds(sandbox_url, "lsp-nl", [{"sku": "SHIRT", "on_hand": 10}])

    assert snapshots_fetch_from_lsps() == []
    assert not StockSnapshot.objects.exists()


def test_unreachable_lsp_is_skipped(lsp_site):
    lsp_site.provider.base_url = "http://127.0.0.1:9"
    lsp_site.provider.save()

    assert snapshots_fetch_from_lsps() == []
