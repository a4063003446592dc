"""The outbound partner webhooks in the OpenAPI schema (`x-webhooks` and components).

The schema stays OpenAPI 3.0 (its `webhooks` object is 3.1 only), so the
notifications are described under `x-webhooks`, which Redoc renders; their
payloads are ordinary components, so generated clients get models to parse
them with. What is written here is what orders/services/partner_notifications.py
builds and logistics/services/partner_webhooks.py sends (tests/partners/test_webhook_schema.py validates real deliveries).
"""

from __future__ import annotations

from django.conf import settings

from logistics.models import PartnerWebhookDelivery, TrackingStatus

EVENTS = {
    PartnerWebhookDelivery.Event.ORDER_SHIPPED: "Everything on the order has left the warehouse.",
    PartnerWebhookDelivery.Event.ORDER_DELIVERED: "Every shipment of the order is delivered.",
    PartnerWebhookDelivery.Event.ORDER_EXCEPTION: (
        "A shipment is in trouble (`failed_attempt`, `exception`, `return_to_sender`, ...) or "
        "late (no tracking event for longer than its service level allows: "
        "`tracking_status` `late`). `shipment_id` names it."
    ),
    PartnerWebhookDelivery.Event.ORDER_CANCELLED: "The order was cancelled (by you or by us).",
    PartnerWebhookDelivery.Event.ORDER_REST_CANCELLED: (
        "Only the unshipped rest of a partially shipped order was cancelled (by us): what "
        "shipped stays shipped; `cancelled_lines` says what will not be sent."
    ),
    PartnerWebhookDelivery.Event.RETURN_RECEIVED: (
        "The warehouse has received and inspected a return; `return` is the return as "
        "`GET .../returns/` shows it, with quantities received and `refund_amount_due`."
    ),
}

_REF = "#/components/schemas/"


def _ref(name: str) -> dict:
    return {"$ref": _REF + name}


def retry_description() -> str:
    base = settings.PARTNER_WEBHOOK_RETRY_BASE_SECONDS
    cap = settings.PARTNER_WEBHOOK_RETRY_MAX_SECONDS
    attempts = settings.PARTNER_WEBHOOK_MAX_ATTEMPTS
    timeout = settings.PARTNER_WEBHOOK_TIMEOUT_SECONDS
    return (
        f"Answer 2xx within {timeout:g} s. Anything else (another status, a redirect, a "
        f"timeout, a refused connection) is retried with the same `webhook-id` and body: "
        f"after try n the next one waits between half and all of min({cap:g} s, "
        f"{base:g} s × 2^(n-1)), up to {attempts} tries in all; then the delivery is given "
        "up (our operations team sees it)."
    )


HEADERS = [
    {
        "in": "header",
        "name": "webhook-id",
        "required": True,
        "description": "The message id, the same on every retry: deduplicate by it.",
        "schema": {"type": "string", "pattern": "^msg_[0-9a-f]{32}$"},
    },
    {
        "in": "header",
        "name": "webhook-timestamp",
        "required": True,
        "description": "Unix seconds of this attempt (signed); refuse ones more than "
        "5 minutes from your clock.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "in": "header",
        "name": "webhook-signature",
        "required": True,
        "description": '`v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">` '
        "keyed with the base64-decoded part of your `whsec_` secret; several "
        "space-separated signatures while a secret is rotated (Standard Webhooks).",
        "schema": {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$"},
    },
]


def components() -> dict:
    return {
        "WebhookShipment": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "status": _ref("ShipmentStatusEnum"),
                "direction": _ref("DirectionEnum"),
                "tracking_number": {"type": "string"},
                "tracking_url": {"type": "string"},
            },
            "required": ["id", "status", "direction", "tracking_number", "tracking_url"],
        },
        "WebhookOrder": {
            "type": "object",
            "description": "The order when the event happened.",
            "properties": {
                "number": {"type": "string"},
                "external_reference": {"type": "string"},
                "status": _ref("OrderStatusEnum"),
                "shipments": {"type": "array", "items": _ref("WebhookShipment")},
                "shipment_id": {
                    "type": "integer",
                    "description": "order.exception: the shipment in trouble.",
                },
                "tracking_status": {
                    "type": "string",
                    "enum": [*TrackingStatus.values, "late"],
                    "description": "order.exception: what is wrong with it.",
                },
                "cancelled_lines": {
                    "type": "array",
                    "description": "order.rest_cancelled: the units that will not be sent.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "line_number": {"type": "integer"},
                            "sku": {"type": "string"},
                            "quantity_cancelled": {"type": "integer", "minimum": 1},
                        },
                        "required": ["line_number", "sku", "quantity_cancelled"],
                    },
                },
                # return.received: the return, received (a $ref takes no description).
                "return": _ref("Return"),
            },
            "required": ["number", "external_reference", "status", "shipments"],
        },
        "WebhookEvent": {
            "type": "object",
            "description": "The body of every partner webhook.",
            "properties": {
                "type": {"type": "string", "enum": [str(event) for event in EVENTS]},
                "timestamp": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When the event happened. Deliveries are not ordered: "
                    "use this to order them.",
                },
                "data": _ref("WebhookOrder"),
            },
            "required": ["type", "timestamp", "data"],
        },
    }


def add_webhooks(result: dict) -> None:
    """Describe the notifications Consign sends to a channel's webhook URL."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(components())
    retries = retry_description()
    result["x-webhooks"] = {
        str(event): {
            "post": {
                "operationId": f"webhook_{str(event).replace('.', '_')}",
                "summary": str(event),
                "description": (
                    f"{summary}\n\nSent to the channel's webhook URL, signed per Standard "
                    f"Webhooks with the channel's `whsec_` secret. {retries} Delivery is at "
                    "least once and in no particular order: deduplicate by `webhook-id`, "
                    "order by the body's `timestamp`."
                ),
                "parameters": HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("WebhookEvent")}},
                },
                "responses": {"2XX": {"description": "Received; nothing is sent again."}},
            }
        }
        for event, summary in EVENTS.items()
    }
