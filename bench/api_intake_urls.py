"""URLs of bench/api_intake.py: the whole app, plus the raw-SQL "floor" view.

The floor does the same inserts as order intake (order, its lines, the
`received` event, after one SKU lookup) with hand-written SQL and nothing else:
no authentication, validation, idempotency, allocation or serializers. It is
the cost of the database work alone, through the same gunicorn and Django.
"""

import json
import uuid

from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from orders.numbers import format_order_number


@csrf_exempt
def floor_create(request):
    data = json.loads(request.body)
    now = timezone.now()
    lines = data["lines"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, sku FROM inventory_product WHERE sku = ANY(%s)",
            [[line["sku"] for line in lines]],
        )
        products = {sku: pk for pk, sku in cursor.fetchall()}
        cursor.execute(
            "SELECT id FROM orders_channel WHERE code = %s", [request.headers["X-Channel"]]
        )
        (channel_id,) = cursor.fetchone()
        cursor.execute("SELECT nextval('orders_order_number_seq')")
        number = format_order_number(cursor.fetchone()[0])
        customer, address = data["customer"], data["shipping_address"]
        total = sum(float(line["unit_price"]) * line["quantity"] for line in lines)
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
                number, channel_id, data["external_reference"], data["currency"], total,
                customer["email"], customer["name"], customer.get("phone", ""),
                address["name"], address["line1"], address.get("line2", ""), address["city"],
                address.get("postcode", ""), address.get("region", ""), address["country"],
                now, now, now,
            ],
        )  # fmt: skip
        (order_id,) = cursor.fetchone()
        cursor.executemany(
            "INSERT INTO orders_orderline (order_id, line_number, product_id, sku, quantity, "
            "unit_price, quantity_shipped, quantity_delivered, quantity_returned) "
            "VALUES (%s, %s, %s, %s, %s, %s, 0, 0, 0)",
            [
                (
                    order_id,
                    i,
                    products[line["sku"]],
                    line["sku"],
                    line["quantity"],
                    line["unit_price"],
                )
                for i, line in enumerate(lines, start=1)
            ],
        )
        cursor.execute(
            "INSERT INTO orders_orderevent (order_id, type, parameters, actor, created_at) "
            "VALUES (%s, 'received', %s, 'floor', %s)",
            [order_id, json.dumps({"lines": len(lines)}), now],
        )
    return JsonResponse({"number": number, "id": str(uuid.uuid4())}, status=201)


urlpatterns = [
    path("bench/floor/orders/", floor_create),
    path("", include("config.urls")),
]
