"""Warehouse screens: adjustments, counts, receiving by barcode, dispatch retry; order cancel."""

import csv
import io
import re

import pytest
from django.utils import timezone

from backoffice.templatetags.stock_tags import reason_words
from inventory.models import StockLevel, StockMovement
from inventory.services.stock import stock_adjust, stock_receive, stock_return
from logistics.models import DispatchOutbox, Shipment
from orders.models import Order, OrderEvent
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.inventory.helpers import asn
from tests.logistics.factories import ProviderFactory, ShipmentFactory
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbound():
    warehouse = WarehouseFactory()
    shirt = ProductFactory(sku="SHIRT-M", barcode="5012345678900")
    ProductFactory(sku="SOCKS-L", barcode="5012345678917")
    StockLevelFactory(product=shirt, warehouse=warehouse, on_hand=3)
    return asn(warehouse=warehouse, reference="ASN-1001", lines=[("SHIRT-M", 2), ("SOCKS-L", 1)])


@pytest.fixture
def failed_shipment():
    shipment = ShipmentFactory(status=Shipment.Status.DISPATCH_FAILED, last_error="HTTP 422")
    DispatchOutbox.objects.create(
        shipment=shipment, status=DispatchOutbox.Status.REJECTED, next_attempt_at=timezone.now()
    )
    return shipment


def test_warehouse_user_adjusts_stock_with_a_reason(client, warehouse_user):
    level = StockLevelFactory(on_hand=10)
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/stock/{level.pk}/adjust/", {"delta": "-3", "reason": "damaged"}
    )
    assert response.status_code == 303
    level.refresh_from_db()
    assert level.on_hand == 7
    movement = StockMovement.objects.get(type="adjustment")
    assert (movement.on_hand_delta, movement.reason, movement.actor) == (
        -3,
        "damaged",
        warehouse_user,
    )


def test_adjustment_below_reserved_is_refused_with_a_message(client, warehouse_user):
    level = StockLevelFactory(on_hand=5, reserved=4)
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/stock/{level.pk}/adjust/", {"delta": "-3", "reason": "lost"}, follow=True
    )
    assert response.status_code == 200
    level.refresh_from_db()
    assert level.on_hand == 5
    assert any(m.level_tag == "error" for m in response.context["messages"])


def test_warehouse_user_records_a_count(client, warehouse_user):
    level = StockLevelFactory(on_hand=10)
    client.force_login(warehouse_user)
    client.post(f"/warehouse/stock/{level.pk}/count/", {"counted": "8"})
    level.refresh_from_db()
    assert level.on_hand == 8


def test_receiving_by_barcode_puts_stock_away(client, warehouse_user, inbound):
    client.force_login(warehouse_user)
    page = client.get(f"/warehouse/inbound/{inbound.pk}/")
    assert "ASN-1001" in page.content.decode()
    for code in ["5012345678900", "5012345678900", "SOCKS-L"]:
        response = client.post(f"/warehouse/inbound/{inbound.pk}/receive/", {"barcode": code})
        assert response.status_code == 303
    shirt = StockLevel.objects.get(product__sku="SHIRT-M", warehouse=inbound.warehouse)
    assert shirt.on_hand == 5
    assert StockLevel.objects.get(product__sku="SOCKS-L").on_hand == 1
    assert list(inbound.lines.values_list("received_quantity", flat=True).order_by("id")) == [2, 1]


def test_unknown_barcode_is_reported_not_a_crash(client, warehouse_user, inbound):
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/inbound/{inbound.pk}/receive/", {"barcode": "0000000"}, follow=True
    )
    assert response.status_code == 200
    assert "0000000" in response.content.decode()
    assert not StockMovement.objects.filter(type="receipt").exists()


def _scan(client, inbound, barcode, quantity=""):
    """A scan as the receiving page's script sends it (fetch, JSON answer)."""
    return client.post(
        f"/warehouse/inbound/{inbound.pk}/receive/",
        {"barcode": barcode, "quantity": quantity},
        headers={"accept": "application/json"},
    )


def test_scan_as_json_answers_the_product_and_its_line(client, warehouse_user, inbound):
    client.force_login(warehouse_user)
    response = _scan(client, inbound, "5012345678900")
    assert response.status_code == 200
    shirt = inbound.lines.get(product__sku="SHIRT-M")
    body = response.json()
    assert body["sku"] == "SHIRT-M"
    assert body["name"] == shirt.product.name
    assert body["line_id"] == shirt.pk
    assert (body["received"], body["expected"], body["difference"]) == (1, 2, -1)
    assert body["on_hand"] == StockLevel.objects.get(product=shirt.product).on_hand == 4
    assert body["warnings"] == []


def test_scan_past_the_expected_quantity_is_recorded_with_an_over_receipt_warning(
    client, warehouse_user, inbound
):
    client.force_login(warehouse_user)
    _scan(client, inbound, "SHIRT-M", 2)
    body = _scan(client, inbound, "SHIRT-M").json()
    assert [w["code"] for w in body["warnings"]] == ["over_receipt"]
    assert "3 of SHIRT-M received, 2 expected" in body["warnings"][0]["message"]
    assert inbound.lines.get(product__sku="SHIRT-M").received_quantity == 3


def test_scan_of_a_product_not_on_the_asn_warns(client, warehouse_user, inbound):
    ProductFactory(sku="CAP-OS", barcode="5012345678924")
    client.force_login(warehouse_user)
    body = _scan(client, inbound, "5012345678924").json()
    assert [w["code"] for w in body["warnings"]] == ["not_on_asn"]
    assert (body["expected"], body["received"]) == (0, 1)
    assert inbound.lines.get(product__sku="CAP-OS").received_quantity == 1


def test_scan_of_an_unknown_code_answers_404_in_json(client, warehouse_user, inbound):
    client.force_login(warehouse_user)
    response = _scan(client, inbound, "0000000")
    assert response.status_code == 404
    assert "0000000" in response.json()["error"]
    assert not StockMovement.objects.filter(type="receipt").exists()


def test_scan_with_a_refused_quantity_answers_422_and_records_nothing(
    client, warehouse_user, inbound
):
    client.force_login(warehouse_user)
    response = _scan(client, inbound, "SHIRT-M", 0)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "quantity"
    assert not StockMovement.objects.filter(type="receipt").exists()


@pytest.mark.parametrize("typed", ["shirt-m", "Shirt-M", "abc-5012-x"])
def test_a_lower_case_sku_or_barcode_matches(client, warehouse_user, inbound, typed):
    shirt = inbound.lines.get(product__sku="SHIRT-M").product
    shirt.barcode = "ABC-5012-X"
    shirt.save(update_fields=["barcode"])
    client.force_login(warehouse_user)
    body = _scan(client, inbound, typed).json()
    assert body["sku"] == "SHIRT-M"
    assert inbound.lines.get(product=shirt).received_quantity == 1


def test_an_exact_sku_wins_over_one_in_another_case(client, warehouse_user, inbound):
    ProductFactory(sku="shirt-m", barcode=None)
    client.force_login(warehouse_user)
    assert _scan(client, inbound, "shirt-m").json()["sku"] == "shirt-m"
    assert _scan(client, inbound, "SHIRT-M").json()["sku"] == "SHIRT-M"


def test_without_script_an_over_receipt_warning_follows_the_redirect(
    client, warehouse_user, inbound
):
    client.force_login(warehouse_user)
    client.post(f"/warehouse/inbound/{inbound.pk}/receive/", {"barcode": "SOCKS-L"})
    response = client.post(
        f"/warehouse/inbound/{inbound.pk}/receive/", {"barcode": "SOCKS-L"}, follow=True
    )
    body = response.content.decode()
    assert "Over-receipt: 2 of SOCKS-L received, 1 expected." in body
    assert re.search(r'id="last-scan"[^>]*>Last scan: SOCKS-L', body)


def test_closing_reports_discrepancies(client, warehouse_user, inbound):
    client.force_login(warehouse_user)
    client.post(f"/warehouse/inbound/{inbound.pk}/receive/", {"barcode": "SHIRT-M"})
    response = client.post(f"/warehouse/inbound/{inbound.pk}/close/", follow=True)
    body = response.content.decode()
    assert "discrepancies" in body
    assert "SOCKS-L -1" in body
    inbound.refresh_from_db()
    assert inbound.status == "received"


def test_warehouse_user_retries_a_failed_dispatch(
    client, warehouse_user, failed_shipment, django_capture_on_commit_callbacks
):
    client.force_login(warehouse_user)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            f"/warehouse/shipments/{failed_shipment.pk}/retry/", {"next": "/warehouse/dispatch/"}
        )
    assert response.status_code == 303
    assert response["Location"] == "/warehouse/dispatch/"
    assert DispatchOutbox.objects.get(shipment=failed_shipment).status == (
        DispatchOutbox.Status.PENDING
    )
    assert OrderEvent.objects.filter(order=failed_shipment.order, user=warehouse_user).exists()


def test_retry_does_not_redirect_off_site(client, warehouse_user, failed_shipment):
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/shipments/{failed_shipment.pk}/retry/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/warehouse/dispatch/"


def test_agent_cancels_an_order_with_confirmation(client, agent):
    order = OrderFactory()
    client.force_login(agent)
    response = client.post(f"/desk/orders/{order.number}/cancel/", {"reason": "customer asked"})
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == Order.Status.RECEIVED  # not confirmed: nothing happens
    client.post(
        f"/desk/orders/{order.number}/cancel/", {"reason": "customer asked", "confirm": "on"}
    )
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.events.filter(type=OrderEvent.Type.CANCELLED, user=agent).exists()


def test_cancel_after_shipping_is_refused_with_a_message(client, agent):
    order = OrderFactory(status=Order.Status.SHIPPED)
    client.force_login(agent)
    response = client.post(
        f"/desk/orders/{order.number}/cancel/",
        {"reason": "too late", "confirm": "on"},
        follow=True,
    )
    assert response.status_code == 200
    assert "can no longer be cancelled" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


@pytest.mark.parametrize(
    ("role", "method", "url"),
    [
        ("agent", "post", "/warehouse/stock/{level}/count/"),
        ("agent", "get", "/warehouse/stock/export.csv"),
        ("agent", "get", "/warehouse/inbound/"),
        ("agent", "get", "/warehouse/inbound/{inbound}/"),
        ("agent", "post", "/warehouse/inbound/{inbound}/receive/"),
        ("agent", "post", "/warehouse/inbound/{inbound}/close/"),
        ("agent", "post", "/warehouse/shipments/{shipment}/retry/"),
        ("warehouse_user", "post", "/desk/orders/{order}/cancel/"),
    ],
)
def test_role_is_refused_403(client, request, role, method, url, inbound, failed_shipment):
    level = StockLevelFactory(on_hand=4)
    order = OrderFactory()
    url = url.format(
        level=level.pk, inbound=inbound.pk, shipment=failed_shipment.pk, order=order.number
    )
    movements = StockMovement.objects.count()
    client.force_login(request.getfixturevalue(role))
    data = {"counted": "1", "barcode": "SHIRT-M", "reason": "x", "confirm": "on"}
    response = getattr(client, method)(url, data)
    assert response.status_code == 403
    assert StockMovement.objects.count() == movements
    order.refresh_from_db()
    assert order.status == Order.Status.RECEIVED
    inbound.refresh_from_db()
    assert inbound.status != "received"
    assert DispatchOutbox.objects.get(shipment=failed_shipment).status == "rejected"


# --- Stock screen (issue 16 item 14) ----------------------------------------------------


def _stock_skus(client, **params) -> list[str]:
    response = client.get("/warehouse/stock/", params)
    assert response.status_code == 200
    return [level.product.sku for level in response.context["page_obj"]]


@pytest.fixture
def catalogue():
    warehouse = WarehouseFactory(code="wh-main")
    socks = ProductFactory(sku="SOCK-01", name="Merino Wool Socks", barcode="8712345000011")
    shirt = ProductFactory(sku="SHIRT-01", name="Linen Shirt", barcode="8712345000028")
    return {
        "warehouse": warehouse,
        "socks": StockLevelFactory(product=socks, warehouse=warehouse, on_hand=4, reserved=4),
        "shirt": StockLevelFactory(product=shirt, warehouse=warehouse, on_hand=9, reserved=2),
    }


def test_stock_search_finds_a_product_by_part_of_its_name_in_any_case(
    client, warehouse_user, catalogue
):
    client.force_login(warehouse_user)
    assert _stock_skus(client, q="wool SOCKS") == ["SOCK-01"]


def test_stock_search_finds_a_product_by_barcode(client, warehouse_user, catalogue):
    client.force_login(warehouse_user)
    assert _stock_skus(client, q=" 8712345000028 ") == ["SHIRT-01"]


def test_stock_search_still_finds_by_sku_prefix(client, warehouse_user, catalogue):
    client.force_login(warehouse_user)
    assert _stock_skus(client, q="shirt-") == ["SHIRT-01"]
    assert _stock_skus(client, sku="SOCK") == ["SOCK-01"]  # links from before the search box


def _row_of(body: str, sku: str) -> str:
    [row] = [row for row in re.findall(r"<tr[^>]*>.*?</tr>", body, re.S) if f">{sku}</a>" in row]
    return row


def test_out_of_stock_rows_are_highlighted(client, warehouse_user, catalogue):
    client.force_login(warehouse_user)
    body = client.get("/warehouse/stock/").content.decode()
    socks, shirt = _row_of(body, "SOCK-01"), _row_of(body, "SHIRT-01")
    assert re.match(r'<tr class="out[ "]', socks), socks
    assert "out of stock" in socks
    assert not re.match(r'<tr class="out[ "]', shirt), shirt
    assert "out of stock" not in shirt


def _movements_table(body: str) -> str:
    return re.search(r'<table class="bo-table" id="movements">.*?</table>', body, re.S).group(0)


def test_history_shows_the_adjustment_note_and_a_running_balance(client, warehouse_user):
    product, warehouse = ProductFactory(), WarehouseFactory()
    stock_receive(product=product, warehouse=warehouse, quantity=10, reference="asn:ASN-7")
    stock_adjust(
        product=product, warehouse=warehouse, delta=-3, reason="damaged", note="Box crushed"
    )
    stock_adjust(product=product, warehouse=warehouse, delta=1, reason="found", note="")
    level = StockLevel.objects.get(product=product, warehouse=warehouse)
    client.force_login(warehouse_user)
    response = client.get(f"/warehouse/stock/{level.pk}/")
    history = [(m.on_hand_delta, m.on_hand_after) for m in response.context["movements"]]
    assert history == [(1, 8), (-3, 7), (10, 10)]
    table = _movements_table(response.content.decode())
    assert "Box crushed" in table
    assert [int(b) for b in re.findall(r'class="num balance">(-?\d+)<', table)] == [8, 7, 10]


def test_running_balance_counts_back_from_the_level_for_the_page_shown(warehouse_user):
    from backoffice.selectors import stock_movements_for

    product, warehouse = ProductFactory(), WarehouseFactory()
    for _ in range(5):
        stock_receive(product=product, warehouse=warehouse, quantity=2)
    level = StockLevel.objects.get(product=product, warehouse=warehouse)
    assert [m.on_hand_after for m in stock_movements_for(level=level, limit=3)] == [10, 8, 6]


def test_reason_codes_are_shown_as_words(client, warehouse_user):
    product, warehouse = ProductFactory(), WarehouseFactory()
    stock_receive(product=product, warehouse=warehouse, quantity=5)
    stock_adjust(product=product, warehouse=warehouse, delta=-1, reason="lost")
    level = StockLevel.objects.get(product=product, warehouse=warehouse)
    client.force_login(warehouse_user)
    table = _movements_table(client.get(f"/warehouse/stock/{level.pk}/").content.decode())
    assert "<td>Lost / missing</td>" in table
    assert "<td>lost</td>" not in table


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("damaged", "Damaged"),
        ("lsp_reconciliation", "LSP stock reconciliation"),
        ("cycle_count", "Cycle count"),
        ("provider_quirk_code", "Provider quirk code"),
        ("Order has an active hold.", "Order has an active hold."),
        ("", ""),
    ],
)
def test_reason_words(code, words):
    assert reason_words(code) == words


def test_order_references_in_the_history_are_links(client, warehouse_user):
    product, warehouse = ProductFactory(), WarehouseFactory()
    returned = OrderFactory()
    stock_receive(product=product, warehouse=warehouse, quantity=5, reference="order:CS-000777")
    stock_return(
        product=product, warehouse=warehouse, quantity=1, order=returned, reference="return:R-9"
    )
    stock_adjust(product=product, warehouse=warehouse, delta=-1, reason="lost", reference="x:1")
    level = StockLevel.objects.get(product=product, warehouse=warehouse)
    client.force_login(warehouse_user)
    table = _movements_table(client.get(f"/warehouse/stock/{level.pk}/").content.decode())
    assert f'<a href="/desk/orders/{returned.number}/">{returned.number}</a>' in table
    assert "return:R-9" in table
    assert '<a href="/desk/orders/CS-000777/">CS-000777</a>' in table
    assert "order:CS-000777" not in table
    assert "<td>x:1</td>" in table


def _export(client, **params) -> list[list[str]]:
    response = client.get("/warehouse/stock/export.csv", params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="stock-')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_stock_export_is_the_screens_levels_as_csv(client, warehouse_user, catalogue):
    client.force_login(warehouse_user)
    rows = _export(client)
    assert rows[0] == [
        "sku",
        "warehouse",
        "on_hand",
        "reserved",
        "available",
        "low_stock_threshold",
        "name",
        "barcode",
    ]
    assert rows[1:] == [
        ["SHIRT-01", "wh-main", "9", "2", "7", "0", "Linen Shirt", "8712345000028"],
        ["SOCK-01", "wh-main", "4", "4", "0", "0", "Merino Wool Socks", "8712345000011"],
    ]


def test_stock_export_keeps_the_screens_filters(client, warehouse_user, catalogue):
    WarehouseFactory(code="wh-other")
    StockLevelFactory(product=catalogue["socks"].product, warehouse__code="wh-other")
    client.force_login(warehouse_user)
    assert [row[:2] for row in _export(client, q="wool", warehouse="wh-main")[1:]] == [
        ["SOCK-01", "wh-main"]
    ]
    body = client.get("/warehouse/stock/", {"q": "wool", "warehouse": "wh-main"}).content
    assert b'href="/warehouse/stock/export.csv?q=wool&amp;warehouse=wh-main"' in body


def test_stock_export_query_count_does_not_grow_with_levels(
    client, warehouse_user, django_assert_max_num_queries
):
    for _ in range(30):
        StockLevelFactory()
    client.force_login(warehouse_user)
    # Session, user, permissions and the levels in one read: an N+1 would be 30 more.
    with django_assert_max_num_queries(6):
        assert len(_export(client)) == 31


def test_stock_export_edited_imports_again(client, warehouse_user, catalogue):
    from inventory.services.imports import STOCK_REQUIRED, rows_from_csv, stock_levels_import

    client.force_login(warehouse_user)
    rows = _export(client, q="SHIRT")
    rows[1][2] = "12"  # on_hand, counted again in the spreadsheet
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    stock_levels_import(
        rows=rows_from_csv(text=out.getvalue(), required=STOCK_REQUIRED), dry_run=False
    )
    catalogue["shirt"].refresh_from_db()
    assert catalogue["shirt"].on_hand == 12


# --- Dispatch board: columns and actions on failed items (issue 16 item 15) ---------


def _refused_shipment(*, outbox_status=DispatchOutbox.Status.REJECTED, status_code=422):
    shipment = ShipmentFactory(
        order=OrderFactory(status=Order.Status.IN_FULFILMENT),
        status=Shipment.Status.DISPATCH_FAILED,
        last_error="HTTP 422: postcode unknown",
    )
    DispatchOutbox.objects.create(
        shipment=shipment,
        status=outbox_status,
        attempts=1,
        last_status_code=status_code,
        next_attempt_at=timezone.now(),
    )
    return shipment


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def test_board_separates_dispatch_in_progress_from_in_transit(client, warehouse_user):
    by_status = {
        status: ShipmentFactory(status=status)
        for status in ["pending", "dispatched", "in_transit", "out_for_delivery"]
    }
    client.force_login(warehouse_user)
    board = client.get("/warehouse/dispatch/").context["board"]
    in_progress = {s.pk for s in board["in_progress"]["shipments"]}
    in_transit = {s.pk for s in board["in_transit"]["shipments"]}
    assert in_progress == {by_status["pending"].pk, by_status["dispatched"].pk}
    assert in_transit == {by_status["in_transit"].pk, by_status["out_for_delivery"].pk}
    assert (board["in_progress"]["count"], board["in_transit"]["count"]) == (2, 2)


def test_board_headings_name_dispatch_in_progress_and_in_transit(client, warehouse_user):
    client.force_login(warehouse_user)
    body = client.get("/warehouse/dispatch/").content.decode()
    assert 'id="col-in_progress"' in body
    assert "Dispatch in progress" in body
    assert 'id="col-in_transit"' in body


def test_board_offers_retry_reroute_and_cancel_on_a_refused_dispatch(client, manager):
    shipment = _refused_shipment()
    client.force_login(manager)
    body = client.get("/warehouse/dispatch/").content.decode()
    assert f"/warehouse/shipments/{shipment.pk}/retry/" in body
    assert f"/warehouse/shipments/{shipment.pk}/reroute/" in body
    assert f"/warehouse/shipments/{shipment.pk}/cancel-order/" in body


def test_board_says_why_a_dispatch_given_up_after_retries_cannot_be_rerouted(client, manager):
    shipment = _refused_shipment(outbox_status=DispatchOutbox.Status.FAILED, status_code=503)
    client.force_login(manager)
    body = client.get("/warehouse/dispatch/").content.decode()
    assert f"/warehouse/shipments/{shipment.pk}/reroute/" not in body
    assert "Re-route not possible" in body
    assert f"/warehouse/shipments/{shipment.pk}/retry/" in body


def test_warehouse_user_sees_retry_but_not_reroute_or_cancel(client, warehouse_user):
    shipment = _refused_shipment()
    client.force_login(warehouse_user)
    body = client.get("/warehouse/dispatch/").content.decode()
    assert f"/warehouse/shipments/{shipment.pk}/retry/" in body
    assert f"/warehouse/shipments/{shipment.pk}/reroute/" not in body
    assert f"/warehouse/shipments/{shipment.pk}/cancel-order/" not in body


def test_manager_reroutes_a_refused_dispatch_from_the_board(
    client, manager, django_capture_on_commit_callbacks
):
    shipment = _refused_shipment()
    other = ProviderFactory(code="other-lsp")
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            f"/warehouse/shipments/{shipment.pk}/reroute/",
            {"provider": "other-lsp", "next": "/warehouse/dispatch/"},
        )
    assert response.status_code == 303
    assert response["Location"] == "/warehouse/dispatch/"
    shipment.refresh_from_db()
    assert (shipment.provider_id, shipment.status) == (other.pk, Shipment.Status.PENDING)
    assert DispatchOutbox.objects.get(shipment=shipment).status == "pending"
    assert len(callbacks) == 1
    followed = client.get("/warehouse/dispatch/")
    assert ("success", f"SHP-{shipment.pk} is queued for dispatch with other-lsp.") in (
        _messages(followed)
    )


def test_reroute_of_a_shipment_the_provider_may_hold_is_refused_with_a_message(client, manager):
    shipment = _refused_shipment(outbox_status=DispatchOutbox.Status.FAILED, status_code=503)
    ProviderFactory(code="other-lsp")
    client.force_login(manager)
    response = client.post(
        f"/warehouse/shipments/{shipment.pk}/reroute/", {"provider": "other-lsp"}, follow=True
    )
    assert response.status_code == 200
    assert any(
        level == "error" and "cannot be re-routed" in text for level, text in _messages(response)
    )
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DISPATCH_FAILED


@pytest.mark.parametrize("provider", ["", "no-such-lsp", "9" * 10_000])
def test_reroute_to_an_unknown_provider_is_a_message(client, manager, provider):
    shipment = _refused_shipment()
    client.force_login(manager)
    response = client.post(
        f"/warehouse/shipments/{shipment.pk}/reroute/", {"provider": provider}, follow=True
    )
    assert response.status_code == 200
    assert [level for level, _ in _messages(response)] == ["error"]
    assert DispatchOutbox.objects.get(shipment=shipment).status == "rejected"


def test_warehouse_user_may_not_reroute(client, warehouse_user):
    shipment = _refused_shipment()
    ProviderFactory(code="other-lsp")
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/shipments/{shipment.pk}/reroute/", {"provider": "other-lsp"}
    )
    assert response.status_code == 403
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.DISPATCH_FAILED


@pytest.mark.parametrize("action", ["reroute", "cancel-order"])
def test_board_actions_are_post_only(client, manager, action):
    shipment = _refused_shipment()
    client.force_login(manager)
    assert client.get(f"/warehouse/shipments/{shipment.pk}/{action}/").status_code == 405


def test_manager_cancels_the_order_of_a_failed_shipment_from_the_board(client, manager):
    shipment = _refused_shipment()
    client.force_login(manager)
    response = client.post(
        f"/warehouse/shipments/{shipment.pk}/cancel-order/",
        {"reason": "customer gave up", "confirm": "on", "next": "/warehouse/dispatch/"},
    )
    assert response.status_code == 303
    assert response["Location"] == "/warehouse/dispatch/"
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.CANCELLED
    assert shipment.order.status == Order.Status.CANCELLED
    assert not DispatchOutbox.objects.filter(shipment=shipment).exists()
    followed = client.get("/warehouse/dispatch/")
    assert ("success", f"Order {shipment.order.number} is cancelled.") in _messages(followed)


def test_cancel_from_the_board_without_confirmation_changes_nothing(client, manager):
    shipment = _refused_shipment()
    client.force_login(manager)
    response = client.post(
        f"/warehouse/shipments/{shipment.pk}/cancel-order/", {"reason": "x"}, follow=True
    )
    assert [level for level, _ in _messages(response)] == ["error"]
    shipment.order.refresh_from_db()
    assert shipment.order.status == Order.Status.IN_FULFILMENT


def test_warehouse_user_may_not_cancel_orders_from_the_board(client, warehouse_user):
    shipment = _refused_shipment()
    client.force_login(warehouse_user)
    response = client.post(
        f"/warehouse/shipments/{shipment.pk}/cancel-order/", {"reason": "x", "confirm": "on"}
    )
    assert response.status_code == 403
    shipment.order.refresh_from_db()
    assert shipment.order.status == Order.Status.IN_FULFILMENT


# Session, user, permissions, then per column a capped count and one index scan per
# status, and the active providers: a fixed number, whatever the number of rows.
# One read per status of each column (the in-progress column gained picking, picked and
# packed with own-site picking): fixed, whatever the number of shipments.
DISPATCH_BOARD_BUDGET = 19


def test_dispatch_board_query_count_does_not_grow_with_shipments(
    client, manager, django_assert_max_num_queries
):
    for _ in range(10):
        for status in ["pending", "dispatched", "in_transit", "exception"]:
            ShipmentFactory(status=status)
        _refused_shipment()
        _refused_shipment(outbox_status=DispatchOutbox.Status.FAILED, status_code=503)
    client.force_login(manager)
    with django_assert_max_num_queries(DISPATCH_BOARD_BUDGET):
        response = client.get("/warehouse/dispatch/")
    assert len(response.context["board"]["failed"]["shipments"]) == 30


def test_carrier_exception_row_links_to_its_order_without_dispatch_actions(client, manager):
    shipment = ShipmentFactory(
        order=OrderFactory(status=Order.Status.IN_FULFILMENT), status=Shipment.Status.EXCEPTION
    )
    client.force_login(manager)
    body = client.get("/warehouse/dispatch/").content.decode()
    assert f"/desk/orders/{shipment.order.number}/" in body
    for action in ["retry", "reroute", "cancel-order"]:
        assert f"/warehouse/shipments/{shipment.pk}/{action}/" not in body
