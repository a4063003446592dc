"""The partner webhooks the schema describes (`x-webhooks`) are the ones Consign sends."""

from __future__ import annotations

import json

import httpx
import pytest
from django.test import Client
from openapi_schema_validator import OAS30Validator, validate

from logistics import webhook_signing
from logistics.models import PartnerWebhookDelivery, Shipment
from logistics.services import partner_webhooks
from logistics.webhook_topics import Topic
from orders.models import Order
from orders.services import partner_notifications
from returns.services import RequestedLine, return_payload, return_request_create
from tests.logistics.factories import LEGACY_TOPICS, WebhookEndpointFactory
from tests.returns.helpers import delivered_order

SECRET = webhook_signing.secret_generate()


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def _validate(schema: dict, instance, ref: str) -> None:
    # The $ref resolves against a document holding the published components.
    validate(instance, {"$ref": ref, "components": schema["components"]}, cls=OAS30Validator)


def _sent(delivery: PartnerWebhookDelivery) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    partner_webhooks.partner_webhook_send(delivery_id=delivery.pk, client=client)
    (request,) = seen
    return request


def test_every_event_consign_sends_is_documented(schema):
    # Every topic an endpoint can subscribe to (the older events are among them).
    assert set(PartnerWebhookDelivery.Event.values) <= set(Topic.values)
    assert set(schema["x-webhooks"]) == set(Topic.values)
    sent_types = schema["components"]["schemas"]["WebhookEvent"]["properties"]["type"]["enum"]
    assert set(sent_types) == set(Topic.values)


def test_documentation_names_dedup_ordering_retries_and_secret_format(schema):
    for webhook in schema["x-webhooks"].values():
        text = webhook["post"]["description"]
        assert "deduplicate by `webhook-id`" in text
        assert "in no particular order" in text
        assert "order by the body's `timestamp`" in text
        assert "tries in all" in text
        assert "`whsec_`" in text


@pytest.mark.django_db
def test_real_deliveries_match_the_documented_payload_and_headers(schema, api_channel, api_key):
    WebhookEndpointFactory(channel=api_channel, topics=LEGACY_TOPICS, secret=SECRET)
    order = delivered_order(channel=api_channel)
    shipment = Shipment.objects.filter(order=order).first()
    line = order.lines.get(line_number=1)
    return_request = return_request_create(
        order=order,
        lines=[RequestedLine(line_number=line.line_number, quantity=1, reason="size_fit")],
        note="",
        actor="test",
    )
    extras = {
        "order.shipped": None,
        "order.delivered": None,
        "order.cancelled": None,
        "order.rest_cancelled": {
            "cancelled_lines": [{"line_number": 1, "sku": line.sku, "quantity_cancelled": 1}]
        },
        "order.exception": {"shipment_id": shipment.pk, "tracking_status": "late"},
        "return.received": {"return": return_payload(return_request=return_request)},
    }
    assert set(extras) == set(PartnerWebhookDelivery.Event.values)
    for event, extra in extras.items():
        delivery = partner_notifications.order_notify(
            order=Order.objects.get(pk=order.pk), event=event, extra=extra
        )
        request = _sent(delivery)
        body = json.loads(request.content)
        _validate(schema, body, "#/components/schemas/WebhookEvent")
        assert body["type"] == event
        for header in schema["x-webhooks"][event]["post"]["parameters"]:
            assert header["name"] in request.headers
            validate(request.headers[header["name"]], header["schema"], cls=OAS30Validator)
        assert (
            webhook_signing.verify(secret=SECRET, headers=request.headers, body=request.content)
            == (request.headers["webhook-id"])
        )
