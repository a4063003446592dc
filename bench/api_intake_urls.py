"""URLs of bench/api_intake.py: the whole app, plus the raw-SQL "floor" views.

`floor` writes every row that order intake writes, the same rows into the same
tables, with hand-written SQL in one transaction and nothing else: no
authentication, validation, idempotency check, allocation policy, status
machine, serializers or task publishing. One plain statement per table (the
stock levels and order status are updates), as anyone would write them by
hand. It is the cost of intake's database work alone, through the same
gunicorn and Django:

    idempotency record, order, 3 lines, 5 order events (received, allocated,
    status_changed x2, shipment_created), stock levels (reserved += q), stock
    movements, allocations, order status (twice), shipment, shipment lines,
    parcel, dispatch outbox row.

`floor_order` is the floor as it was before allocation and shipment planning
joined intake: the order, its lines and the `received` event only. The bench
prints both ratios so the two can be told apart.
"""

import json
import uuid
from decimal import Decimal

from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from orders.numbers import format_order_number

_WORLD_SQL = """
SELECT c.id, cw.warehouse_id, w.code, sl.id, sl.provider_id, p.code,
  (SELECT max(k.id) FROM partners_apikey k WHERE k.channel_id = c.id)
FROM orders_channel c
JOIN orders_channelwarehouse cw ON cw.channel_id = c.id
JOIN inventory_warehouse w ON w.id = cw.warehouse_id
JOIN logistics_servicelevel sl ON sl.code = 'standard'
JOIN logistics_provider p ON p.id = sl.provider_id AND p.code = 'benchlsp'
WHERE c.code = %s
ORDER BY cw.priority LIMIT 1
"""


def _insert_order(cursor, data, now) -> tuple[int, str, dict[str, tuple[int, int]]]:
    """The order, its lines and the `received` event: (order id, number, sku -> product)."""
    lines = data["lines"]
    cursor.execute(
        "SELECT sku, id, weight_grams FROM inventory_product WHERE sku = ANY(%s)",
        [[line["sku"] for line in lines]],
    )
    products = {sku: (pk, weight) for sku, pk, weight in cursor.fetchall()}
    cursor.execute("SELECT nextval('orders_order_number_seq')")
    number = format_order_number(cursor.fetchone()[0])
    customer, address = data["customer"], data["shipping_address"]
    total = sum((Decimal(line["unit_price"]) * line["quantity"] for line in lines), Decimal(0))
    cursor.execute(
        """
        INSERT INTO orders_order (number, channel_id, external_reference, status, currency,
            total_amount, priority, customer_email, customer_name, customer_phone,
            customer_phone_key, shipping_name, shipping_line1, shipping_line2, shipping_city,
            shipping_postcode, shipping_postcode_key, shipping_region, shipping_country,
            placed_at, created_at, updated_at)
        VALUES (%s, %s, %s, 'received', %s, %s, 0, %s, %s, %s, '', %s, %s, %s, %s, %s, '',
            %s, %s, %s, %s, %s)
        RETURNING id
        """,
        [
            number, data["channel_id"], data["external_reference"], data["currency"], total,
            customer["email"], customer["name"], customer.get("phone", ""),
            address["name"], address["line1"], address.get("line2", ""), address["city"],
            address.get("postcode", ""), address.get("region", ""), address["country"],
            now, now, now,
        ],
    )  # fmt: skip
    (order_id,) = cursor.fetchone()
    cursor.execute(
        "INSERT INTO orders_orderline (order_id, line_number, product_id, sku, quantity, "
        "unit_price, quantity_shipped, quantity_delivered, quantity_returned) "
        "SELECT %s, n, p, s, q, u, 0, 0, 0 "
        "FROM unnest(%s::int[], %s::bigint[], %s::text[], %s::int[], %s::numeric[]) "
        "AS x(n, p, s, q, u) RETURNING id",
        [
            order_id,
            list(range(1, len(lines) + 1)),
            [products[line["sku"]][0] for line in lines],
            [line["sku"] for line in lines],
            [line["quantity"] for line in lines],
            [Decimal(line["unit_price"]) for line in lines],
        ],
    )
    data["line_ids"] = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "INSERT INTO orders_orderevent (order_id, type, parameters, actor, created_at) "
        "VALUES (%s, 'received', %s, 'floor', %s)",
        [order_id, json.dumps({"lines": len(lines)}), now],
    )
    return order_id, number, products


def _event(cursor, order_id, kind, parameters, now) -> None:
    cursor.execute(
        "INSERT INTO orders_orderevent (order_id, type, parameters, actor, created_at) "
        "VALUES (%s, %s, %s, 'floor', %s)",
        [order_id, kind, json.dumps(parameters), now],
    )


def _status(cursor, order_id, old, new, now) -> None:
    cursor.execute(
        "UPDATE orders_order SET status = %s, updated_at = %s WHERE id = %s", [new, now, order_id]
    )
    _event(cursor, order_id, "status_changed", {"old_status": old, "new_status": new}, now)


@csrf_exempt
def floor_create(request):
    data = json.loads(request.body)
    now = timezone.now()
    lines = data["lines"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_WORLD_SQL, [request.headers["X-Channel"]])
        channel_id, warehouse_id, warehouse, level_id, provider_id, provider, key_id = (
            cursor.fetchone()
        )
        data["channel_id"] = channel_id
        order_id, number, products = _insert_order(cursor, data, now)
        line_ids = data["line_ids"]
        product_ids = [products[line["sku"]][0] for line in lines]
        quantities = [line["quantity"] for line in lines]

        # Allocation: reserve at the channel's warehouse, with ledger and allocation rows.
        cursor.execute(
            "UPDATE inventory_stocklevel l SET reserved = l.reserved + x.q, updated_at = %s "
            "FROM unnest(%s::bigint[], %s::int[]) AS x(p, q) "
            "WHERE l.product_id = x.p AND l.warehouse_id = %s AND l.on_hand - l.reserved >= x.q",
            [now, product_ids, quantities, warehouse_id],
        )
        if cursor.rowcount != len(lines):
            raise RuntimeError("the bench's stock ran out")
        cursor.execute(
            "INSERT INTO inventory_stockmovement (product_id, warehouse_id, type, on_hand_delta, "
            "reserved_delta, reason, reference, order_id, note, created_at) "
            "SELECT p, %s, 'reservation', 0, q, '', %s, %s, '', %s "
            "FROM unnest(%s::bigint[], %s::int[]) AS x(p, q)",
            [warehouse_id, f"order:{number}", order_id, now, product_ids, quantities],
        )
        cursor.execute(
            "INSERT INTO inventory_allocation (created_at, updated_at, order_line_id, "
            "warehouse_id, quantity, status) SELECT %s, %s, l, %s, q, 'active' "
            "FROM unnest(%s::bigint[], %s::int[]) AS x(l, q)",
            [now, now, warehouse_id, line_ids, quantities],
        )
        _event(cursor, order_id, "allocated", {"warehouse": warehouse, "lines": len(lines)}, now)
        _status(cursor, order_id, "received", "allocated", now)

        # Shipment planning: one shipment with its lines, parcel and outbox row.
        cursor.execute(
            "INSERT INTO logistics_shipment (created_at, updated_at, order_id, warehouse_id, "
            "provider_id, service_level_id, status, direction, idempotency_token, "
            "provider_reference, tracking_number, label_url, cost_currency, dispatch_attempts, "
            "last_error, poll_interval_seconds) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'pending', 'outbound', %s, '', '', '', '', 0, '', 0) "
            "RETURNING id",
            [now, now, order_id, warehouse_id, provider_id, level_id, uuid.uuid4()],
        )
        (shipment_id,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO logistics_shipmentline (shipment_id, order_line_id, quantity) "
            "SELECT %s, l, q FROM unnest(%s::bigint[], %s::int[]) AS x(l, q)",
            [shipment_id, line_ids, quantities],
        )
        weight = sum(products[line["sku"]][1] * line["quantity"] for line in lines)
        cursor.execute(
            "INSERT INTO logistics_parcel (shipment_id, weight_grams, length_mm, width_mm, "
            "height_mm, tracking_number) VALUES (%s, %s, 0, 0, 0, '')",
            [shipment_id, weight],
        )
        _event(
            cursor,
            order_id,
            "shipment_created",
            {"shipment_id": shipment_id, "warehouse": warehouse, "provider": provider},
            now,
        )
        cursor.execute(
            "INSERT INTO logistics_dispatchoutbox (created_at, updated_at, shipment_id, status, "
            "attempts, next_attempt_at, last_error) VALUES (%s, %s, %s, 'pending', 0, %s, '')",
            [now, now, shipment_id, now],
        )
        _status(cursor, order_id, "allocated", "in_fulfilment", now)

        body = json.dumps({"number": number, "status": "in_fulfilment"})
        cursor.execute(
            "INSERT INTO partners_idempotencyrecord (api_key_id, key, request_method, "
            "request_path, request_hash, response_status, response_content_type, "
            "response_body, response_location, created_at, completed_at) "
            "VALUES (%s, %s, 'POST', %s, '', 201, 'application/json', %s, %s, %s, %s)",
            [
                key_id,
                request.headers["Idempotency-Key"],
                request.path,
                body,
                f"/api/v1/orders/{number}/",
                now,
                now,
            ],
        )
    return JsonResponse({"number": number, "status": "in_fulfilment"}, status=201)


@csrf_exempt
def floor_order_create(request):
    data = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM orders_channel WHERE code = %s", [request.headers["X-Channel"]]
        )
        (data["channel_id"],) = cursor.fetchone()
        _, number, _ = _insert_order(cursor, data, timezone.now())
    return JsonResponse({"number": number, "id": str(uuid.uuid4())}, status=201)


urlpatterns = [
    path("bench/floor/orders/", floor_create),
    path("bench/floor-order/orders/", floor_order_create),
    path("", include("config.urls")),
]
