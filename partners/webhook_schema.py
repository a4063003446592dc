"""The outbound partner webhooks in the OpenAPI schema (`x-webhooks` and components).

The schema stays OpenAPI 3.0 (drf-spectacular generates 3.0.3; the `webhooks` object
is 3.1 only), so the topics are described under `x-webhooks`, which Redoc renders;
their payloads are ordinary components, so generated clients get models to parse them
with: `WebhookEvent` is any delivery's body, and each topic has its own envelope
(`TOPICS[topic].envelope`, e.g. `WebhookOrderCreatedEvent`) whose `data` is exact.
What is written here is what the producers build (orders/services/partner_notifications.py,
orders/services/stock_events.py, the order edit and ASN services) and
logistics/services/partner_webhooks.py sends (tests/partners/test_webhook_schema.py and
tests/partners/test_webhook_topics.py validate real deliveries against it).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from logistics.models import TrackingStatus
from logistics.webhook_topics import Topic


@dataclass(frozen=True)
class TopicDoc:
    summary: str
    data: str  # the component `data` is
    envelope: str  # the component of the whole body


_MILESTONE = "The order when it happened, with its shipments (`WebhookOrder`)."

TOPICS: dict[str, TopicDoc] = {
    Topic.ORDER_CREATED: TopicDoc(
        "An order was created (through the API, a batch or any other intake). `data` is the "
        "order as `GET /api/v1/orders/{number}/` shows it once intake is done: its status "
        "already says where allocation and planning took it, so the moves made while it was "
        "created are not sent as `order.status_changed`.",
        "OrderDetail",
        "WebhookOrderCreatedEvent",
    ),
    Topic.ORDER_UPDATED: TopicDoc(
        "The order was edited before dispatch (`PATCH /api/v1/orders/{number}/`). `data` is "
        "the order as `GET` shows it after the edit, plus `changes`: per changed field, "
        "what it was and what it is.",
        "WebhookOrderUpdated",
        "WebhookOrderUpdatedEvent",
    ),
    Topic.ORDER_STATUS_CHANGED: TopicDoc(
        "The order's status changed (`status`, and `previous_status` it left); one event per "
        "move, so a roll-up from in_fulfilment to delivered may send several.",
        "WebhookOrderStatusChanged",
        "WebhookOrderStatusChangedEvent",
    ),
    Topic.ORDER_SHIPPED: TopicDoc(
        f"Everything on the order has left the warehouse. {_MILESTONE}",
        "WebhookOrder",
        "WebhookOrderShippedEvent",
    ),
    Topic.ORDER_DELIVERED: TopicDoc(
        f"Every shipment of the order is delivered. {_MILESTONE}",
        "WebhookOrder",
        "WebhookOrderDeliveredEvent",
    ),
    Topic.ORDER_CANCELLED: TopicDoc(
        f"The order was cancelled (by you or by us). {_MILESTONE}",
        "WebhookOrder",
        "WebhookOrderCancelledEvent",
    ),
    Topic.ORDER_REST_CANCELLED: TopicDoc(
        "Only the unshipped rest of a partially shipped order was cancelled (by us): what "
        "shipped stays shipped; `cancelled_lines` says what will not be sent.",
        "WebhookOrder",
        "WebhookOrderRestCancelledEvent",
    ),
    Topic.ORDER_EXCEPTION: TopicDoc(
        "A shipment is in trouble (`failed_attempt`, `exception`, `return_to_sender`, ...) or "
        "late (no tracking event for longer than its service level allows: "
        "`tracking_status` `late`). `shipment_id` names it.",
        "WebhookOrder",
        "WebhookOrderExceptionEvent",
    ),
    Topic.SHIPMENT_CREATED: TopicDoc(
        "A shipment was planned for the order (one per warehouse shipping part of it), or a "
        "return label was issued (`direction` `return`). `shipment` is the new shipment; it "
        "has no tracking number yet unless it is a return label.",
        "WebhookShipmentCreated",
        "WebhookShipmentCreatedEvent",
    ),
    Topic.SHIPMENT_TRACKING_UPDATED: TopicDoc(
        "The carrier reported a new tracking event for a shipment (either direction): "
        "`tracking_event` is that event, `shipment` the shipment after it (an older event "
        "that arrives late is sent too, and changes no status).",
        "WebhookShipmentTrackingUpdated",
        "WebhookShipmentTrackingUpdatedEvent",
    ),
    Topic.RETURN_CREATED: TopicDoc(
        "A return was requested for the order; `return` is the return as "
        "`GET .../returns/` shows it (no label yet: its shipment comes as `shipment.created`).",
        "WebhookOrder",
        "WebhookReturnCreatedEvent",
    ),
    Topic.RETURN_RECEIVED: TopicDoc(
        "The warehouse has received and inspected a return; `return` is the return as "
        "`GET .../returns/` shows it, with quantities received and `refund_amount_due`.",
        "WebhookOrder",
        "WebhookReturnReceivedEvent",
    ),
    Topic.INBOUND_RECEIVED: TopicDoc(
        "An inbound shipment (ASN) of the channel was received in full; `data` is the ASN as "
        "`GET /api/v1/inbound-shipments/{number}/` shows it, with received quantities and "
        "discrepancies.",
        "InboundShipment",
        "WebhookInboundReceivedEvent",
    ),
    Topic.STOCK_CHANGED: TopicDoc(
        "Stock of some SKUs changed at the warehouses the channel sells from. Sent at most "
        "once per window (`PARTNER_WEBHOOK_STOCK_WINDOW_SECONDS`, 60 s by default) per "
        "channel: `items` names each SKU that changed in the window once, with what you can "
        "sell of it when the event was built (on hand minus reserved over the channel's "
        "warehouses, as `GET /api/v1/inventory/` shows it). A SKU may come again without "
        "having changed; the numbers are absolute, so applying them twice is harmless.",
        "WebhookStockChanged",
        "WebhookStockChangedEvent",
    ),
    Topic.STOCK_LOW: TopicDoc(
        "A SKU's available stock at one warehouse the channel sells from fell to or below "
        "its low-stock threshold (sent when it becomes low, not again while it stays low).",
        "WebhookStockLow",
        "WebhookStockLowEvent",
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
    disable_after = settings.PARTNER_WEBHOOK_DISABLE_AFTER_HOURS
    return (
        f"Answer 2xx within {timeout:g} s. Anything else (another status, a redirect, a "
        f"timeout, a refused connection) is retried with the same `webhook-id` and body: "
        f"after try n the next one waits between half and all of min({cap:g} s, "
        f"{base:g} s × 2^(n-1)), up to {attempts} tries in all; then the delivery is given "
        "up (see it, and resend it, in `GET /api/v1/webhook-endpoints/{id}/deliveries/`). "
        f"An endpoint whose deliveries all fail for {disable_after:g} hours is disabled "
        "until you `PATCH` it `active: true`."
    )


_TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "description": "When the event happened. Deliveries are not ordered: use this to order them.",
}

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
        "keyed with the base64-decoded part of your endpoint's `whsec_` secret. For 24 "
        "hours after `POST /api/v1/webhook-endpoints/{id}/rotate-secret` it carries two, "
        "space-separated: the new secret's, then the old one's (Standard Webhooks: a "
        "message verifies when any one matches).",
        "schema": {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$"},
    },
]


def _promise(of: str) -> dict:
    """The delivery promise's two dates (docs/routing.md, "The delivery promise")."""
    return {
        "ship_by": {
            "type": "string",
            "format": "date",
            "nullable": True,
            "description": f"The day the {of} leaves its warehouse by (the site's local date); "
            "null while there is no promise.",
        },
        "promised_delivery_date": {
            "type": "string",
            "format": "date",
            "nullable": True,
            "description": f"The day the customer is told the {of} arrives by.",
        },
    }


def _shipment_detail() -> dict:
    return {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": _ref("ShipmentStatusEnum"),
            "direction": _ref("DirectionEnum"),
            "provider": {"type": "string", "nullable": True, "description": "Provider code."},
            "tracking_number": {"type": "string"},
            "tracking_url": {"type": "string"},
            **_promise("shipment"),
        },
        "required": [
            "id",
            "status",
            "direction",
            "provider",
            "tracking_number",
            "tracking_url",
            "ship_by",
            "promised_delivery_date",
        ],  # fmt: skip
    }


def _order_reference() -> dict:
    return {
        "number": {"type": "string"},
        "external_reference": {"type": "string"},
    }


def components() -> dict:
    result = {
        "WebhookShipment": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "status": _ref("ShipmentStatusEnum"),
                "direction": _ref("DirectionEnum"),
                "tracking_number": {"type": "string"},
                "tracking_url": {"type": "string"},
                **_promise("shipment"),
            },
            "required": [
                "id",
                "status",
                "direction",
                "tracking_number",
                "tracking_url",
                "ship_by",
                "promised_delivery_date",
            ],  # fmt: skip
        },
        "WebhookOrder": {
            "type": "object",
            "description": "The order when the event happened.",
            "properties": {
                "number": {"type": "string"},
                "external_reference": {"type": "string"},
                "status": _ref("OrderStatusEnum"),
                **_promise("order"),
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
                # return.created / return.received: the return (a $ref takes no description).
                "return": _ref("Return"),
            },
            "required": [
                "number",
                "external_reference",
                "status",
                "ship_by",
                "promised_delivery_date",
                "shipments",
            ],  # fmt: skip
        },
        "WebhookOrderUpdated": {
            "description": "The order after the edit, and what changed.",
            "allOf": [
                _ref("OrderDetail"),
                {
                    "type": "object",
                    "properties": {
                        "changes": {
                            "type": "object",
                            "description": "Per changed field (`shipping_address`, "
                            "`customer`, `total_amount`: `{old, new}`; `lines`: per line "
                            "`line_number`, `sku`, `old_quantity`, `new_quantity`, ...).",
                            "additionalProperties": True,
                        }
                    },
                    "required": ["changes"],
                },
            ],
        },
        "WebhookOrderStatusChanged": {
            "type": "object",
            "properties": {
                **_order_reference(),
                "status": _ref("OrderStatusEnum"),
                "previous_status": _ref("OrderStatusEnum"),
                "changed_at": {"type": "string", "format": "date-time"},
            },
            "required": [
                "number",
                "external_reference",
                "status",
                "previous_status",
                "changed_at",
            ],
        },
        "WebhookShipmentDetail": _shipment_detail(),
        "WebhookShipmentCreated": {
            "type": "object",
            "properties": {**_order_reference(), "shipment": _ref("WebhookShipmentDetail")},
            "required": ["number", "external_reference", "shipment"],
        },
        "WebhookShipmentTrackingUpdated": {
            "type": "object",
            "properties": {
                **_order_reference(),
                "shipment": _ref("WebhookShipmentDetail"),
                "tracking_event": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": TrackingStatus.values},
                        "provider_status": {"type": "string"},
                        "description": {"type": "string"},
                        "location": {"type": "string"},
                        "occurred_at": {"type": "string", "format": "date-time"},
                    },
                    "required": [
                        "status",
                        "provider_status",
                        "description",
                        "location",
                        "occurred_at",
                    ],
                },
            },
            "required": ["number", "external_reference", "shipment", "tracking_event"],
        },
        "WebhookStockChanged": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "sku": {"type": "string"},
                            "available": {"type": "integer", "minimum": 0},
                        },
                        "required": ["sku", "available"],
                    },
                }
            },
            "required": ["items"],
        },
        "WebhookStockLow": {
            "type": "object",
            "properties": {
                "sku": {"type": "string"},
                "warehouse": {"type": "string", "description": "Warehouse code."},
                "available": {
                    "type": "integer",
                    "description": "On hand minus reserved at that warehouse.",
                },
                "threshold": {"type": "integer", "minimum": 1},
            },
            "required": ["sku", "warehouse", "available", "threshold"],
        },
        "WebhookEvent": {
            "type": "object",
            "description": "The body of every partner webhook; each topic's envelope "
            "(`x-webhooks`) says exactly what its `data` is.",
            "properties": {
                "type": {"type": "string", "enum": [str(topic) for topic in TOPICS]},
                "timestamp": _TIMESTAMP,
                "data": {
                    "anyOf": [_ref(name) for name in dict.fromkeys(d.data for d in TOPICS.values())]
                },
            },
            "required": ["type", "timestamp", "data"],
        },
    }
    for topic, doc in TOPICS.items():
        result[doc.envelope] = {
            "type": "object",
            "description": f"The body of a `{topic}` delivery.",
            "properties": {
                "type": {"type": "string", "enum": [str(topic)]},
                "timestamp": _TIMESTAMP,
                "data": _ref(doc.data),
            },
            "required": ["type", "timestamp", "data"],
        }
    return result


def add_webhooks(result: dict) -> None:
    """Describe every topic a channel's webhook endpoints can subscribe to."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(components())
    retries = retry_description()
    result["x-webhooks"] = {
        str(topic): {
            "post": {
                "operationId": f"webhook_{str(topic).replace('.', '_')}",
                "summary": str(topic),
                "description": (
                    f"{doc.summary}\n\nSent to each of the channel's webhook endpoints "
                    "subscribed to this topic (`/api/v1/webhook-endpoints/`), signed per "
                    f"Standard Webhooks with the endpoint's `whsec_` secret. {retries} "
                    "Delivery is at least once and in no particular order: deduplicate by "
                    "`webhook-id`, order by the body's `timestamp`."
                ),
                "parameters": HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(doc.envelope)}},
                },
                "responses": {"2XX": {"description": "Received; nothing is sent again."}},
            }
        }
        for topic, doc in TOPICS.items()
    }
