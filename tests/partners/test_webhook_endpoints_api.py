"""The partner API's webhook endpoints: CRUD, secret shown once, rotation, delivery log, retry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from logistics import webhook_signing
from logistics.models import PartnerWebhookDelivery, WebhookEndpoint
from logistics.services.partner_events import PartnerEvent, partner_events_publish_many
from logistics.services.webhook_endpoints import MAX_ENDPOINTS_PER_CHANNEL
from tests.logistics.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/webhook-endpoints/"
# Loopback is on the test settings' OUTBOUND_ALLOW_HOSTS (and this machine has no DNS).
URL = "http://127.0.0.1:9/hooks/consign"
BODY = {"url": URL, "topics": ["order.created", "order.shipped"], "description": "Shop backend"}


def _create(client, body=None, **headers):
    return client.post(BASE, body or BODY, format="json", headers=headers)


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    return body


# --- create, read, list ----------------------------------------------------------------


def test_create_returns_the_generated_secret_once(api_client, api_channel):
    response = _create(api_client)
    assert response.status_code == 201, response.content
    body = response.json()
    webhook_signing.secret_validate(body["secret"])
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert (endpoint.channel_id, endpoint.url, endpoint.topics) == (
        api_channel.pk,
        URL,
        ["order.created", "order.shipped"],
    )
    assert endpoint.secret == body["secret"]
    assert response["Location"] == f"{BASE}{endpoint.pk}/"
    assert body["active"] is True
    assert body["description"] == "Shop backend"

    detail = api_client.get(response["Location"])
    listed = api_client.get(BASE)
    assert detail.status_code == listed.status_code == 200
    assert "secret" not in detail.json()
    assert body["secret"] not in detail.content.decode()
    assert [row["id"] for row in listed.json()["results"]] == [endpoint.pk]
    assert "secret" not in listed.json()["results"][0]


def test_two_creates_get_two_different_secrets(api_client):
    first, second = _create(api_client).json(), _create(api_client).json()
    assert first["secret"] != second["secret"]


def test_an_idempotent_replay_answers_the_same_body_and_creates_nothing(api_client):
    first = _create(api_client, **{"Idempotency-Key": "create-1"})
    again = _create(api_client, **{"Idempotency-Key": "create-1"})
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    # The same secret again (Stripe does the same): the key is as private as the secret.
    assert again.json() == first.json()
    assert WebhookEndpoint.objects.count() == 1
    other = _create(api_client, {**BODY, "description": "x"}, **{"Idempotency-Key": "create-1"})
    _problem(other, 422, "idempotency_key_reused")
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "url": "http://partner.example/hook"}, "url"),  # not https, not allow-listed
        ({**BODY, "url": "https://10.0.0.7/hook"}, "url"),  # private
        ({**BODY, "url": "https://169.254.169.254/latest/meta-data/"}, "url"),  # metadata
        ({**BODY, "url": "not a url"}, "url"),
        ({**BODY, "topics": []}, "topics"),
        ({**BODY, "topics": ["order.created", "order.teleported"]}, "topics[1]"),
        ({**BODY, "topics": "order.created"}, "topics"),
        ({**BODY, "description": "x" * 501}, "description"),
        ({**BODY, "secret": "whsec_bXktb3duLXNlY3JldC1pcy1ub3QtYWxsb3dlZA=="}, "secret"),
        ({"topics": ["order.created"]}, "url"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(api_client, body, field):
    response = _create(api_client, body)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in {error["field"] for error in response.json()["errors"]}
    assert not WebhookEndpoint.objects.exists()


def test_a_channel_has_at_most_16_endpoints(api_client, api_channel):
    WebhookEndpointFactory.create_batch(MAX_ENDPOINTS_PER_CHANNEL, channel=api_channel)
    _problem(_create(api_client), 422, "webhook_endpoint_limit")
    assert WebhookEndpoint.objects.count() == MAX_ENDPOINTS_PER_CHANNEL


def test_the_list_is_cursor_paged_newest_first(api_client, api_channel):
    ids = [WebhookEndpointFactory(channel=api_channel).pk for _ in range(3)]
    first = api_client.get(BASE, {"page_size": 2}).json()
    second = api_client.get(BASE, {"page_size": 2, "cursor": first["next_cursor"]}).json()
    assert [row["id"] for row in first["results"] + second["results"]] == ids[::-1]
    assert second["next_cursor"] is None


# --- another channel's endpoints are not there ----------------------------------------


def test_another_channels_endpoint_is_a_404_everywhere(api_client, other_api_client):
    endpoint_id = _create(api_client).json()["id"]
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    delivery = _delivery(endpoint, status=PartnerWebhookDelivery.Status.FAILED)
    base = f"{BASE}{endpoint_id}/"
    for response in (
        other_api_client.get(base),
        other_api_client.patch(base, {"active": False}, format="json"),
        other_api_client.delete(base),
        other_api_client.post(f"{base}rotate-secret"),
        other_api_client.get(f"{base}deliveries/"),
        other_api_client.post(f"{base}deliveries/{delivery.pk}/retry"),
    ):
        _problem(response, 404, "webhook_endpoint_not_found")
    assert other_api_client.get(BASE).json()["results"] == []
    after = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert (after.active, after.secret) == (True, endpoint.secret)
    delivery.refresh_from_db()
    assert delivery.status == PartnerWebhookDelivery.Status.FAILED


def test_an_unknown_or_huge_id_is_a_404(api_client):
    _problem(api_client.get(f"{BASE}424242/"), 404, "webhook_endpoint_not_found")
    _problem(api_client.get(f"{BASE}{2**70}/"), 404, "webhook_endpoint_not_found")


# --- change, delete ----------------------------------------------------------------------


def test_patch_changes_only_what_is_sent(api_client):
    created = _create(api_client).json()
    url = f"{BASE}{created['id']}/"
    response = api_client.patch(url, {"topics": ["stock.low"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["topics"] == ["stock.low"]
    assert response.json()["url"] == URL
    assert "secret" not in response.json()
    assert WebhookEndpoint.objects.get(pk=created["id"]).secret == created["secret"]


def test_a_bad_patch_changes_nothing(api_client):
    created = _create(api_client).json()
    url = f"{BASE}{created['id']}/"
    for body in (
        {"topics": ["nope"]},
        {"topics": []},
        {"url": "http://partner.example/x"},
        {"active": "maybe"},
        {"secret": "whsec_x"},
    ):
        assert api_client.patch(url, body, format="json").status_code == 422
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert (endpoint.topics, endpoint.url, endpoint.active) == (BODY["topics"], URL, True)


def test_patch_active_true_re_enables_a_disabled_endpoint(api_client, api_channel):
    endpoint = WebhookEndpointFactory(
        channel=api_channel,
        active=False,
        failing_since=timezone.now() - dt.timedelta(days=4),
        disabled_at=timezone.now(),
        disabled_reason="Every delivery failed for 72 hours.",
    )
    body = api_client.get(f"{BASE}{endpoint.pk}/").json()
    assert (body["active"], body["disabled_reason"]) == (False, endpoint.disabled_reason)
    response = api_client.patch(f"{BASE}{endpoint.pk}/", {"active": True}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["active"], body["disabled_at"], body["failing_since"]) == (True, None, None)


def test_delete_removes_the_endpoint_and_its_log(api_client):
    endpoint_id = _create(api_client).json()["id"]
    _delivery(WebhookEndpoint.objects.get(pk=endpoint_id))
    assert api_client.delete(f"{BASE}{endpoint_id}/").status_code == 204
    _problem(api_client.get(f"{BASE}{endpoint_id}/"), 404, "webhook_endpoint_not_found")
    assert not PartnerWebhookDelivery.objects.exists()


# --- rotation ----------------------------------------------------------------------------


def test_rotation_returns_a_new_secret_and_keeps_the_old_one_for_24_hours(api_client):
    created = _create(api_client).json()
    before = timezone.now()
    response = api_client.post(f"{BASE}{created['id']}/rotate-secret")
    assert response.status_code == 200, response.content
    body = response.json()
    webhook_signing.secret_validate(body["secret"])
    assert body["secret"] != created["secret"]
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert (endpoint.secret, endpoint.previous_secret) == (body["secret"], created["secret"])
    expires = dt.datetime.fromisoformat(body["previous_secret_expires_at"])
    assert dt.timedelta(hours=24) <= expires - before < dt.timedelta(hours=24, minutes=1)
    assert "secret" not in api_client.get(f"{BASE}{created['id']}/").json()


def test_a_replayed_rotation_rotates_once(api_client):
    endpoint_id = _create(api_client).json()["id"]
    url = f"{BASE}{endpoint_id}/rotate-secret"
    first = api_client.post(url, headers={"Idempotency-Key": "rotate-1"})
    again = api_client.post(url, headers={"Idempotency-Key": "rotate-1"})
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["secret"] == first.json()["secret"]
    assert WebhookEndpoint.objects.get(pk=endpoint_id).secret == first.json()["secret"]


# --- the delivery log and retries --------------------------------------------------------


def _delivery(endpoint, *, topic="order.shipped", status=PartnerWebhookDelivery.Status.PENDING):
    partner_events_publish_many(
        events=[PartnerEvent(channel_id=endpoint.channel_id, topic=topic, data={"n": 1})]
    )
    delivery = PartnerWebhookDelivery.objects.filter(endpoint=endpoint).latest("pk")
    PartnerWebhookDelivery.objects.filter(pk=delivery.pk).update(status=status)
    delivery.refresh_from_db()
    return delivery


def test_the_delivery_log_is_paged_filtered_and_constant_in_queries(
    api_client, api_channel, django_assert_max_num_queries
):
    endpoint = WebhookEndpointFactory(channel=api_channel)
    shipped = [_delivery(endpoint) for _ in range(3)]
    low = _delivery(endpoint, topic="stock.low", status=PartnerWebhookDelivery.Status.FAILED)
    url = f"{BASE}{endpoint.pk}/deliveries/"
    # Key, endpoint, page: the same whatever the page size.
    with django_assert_max_num_queries(4):
        page = api_client.get(url, {"page_size": 3}).json()
    assert [row["id"] for row in page["results"]] == [low.pk, shipped[2].pk, shipped[1].pk]
    row = page["results"][0]
    assert (row["topic"], row["status"], row["webhook_id"]) == (
        "stock.low",
        "failed",
        low.webhook_id,
    )
    assert row["payload"]["type"] == "stock.low"
    assert row["payload"]["data"] == {"n": 1}
    rest = api_client.get(url, {"page_size": 3, "cursor": page["next_cursor"]}).json()
    assert [row["id"] for row in rest["results"]] == [shipped[0].pk]
    with django_assert_max_num_queries(4):
        everything = api_client.get(url, {"page_size": 200}).json()
    assert len(everything["results"]) == 4
    assert [r["id"] for r in api_client.get(url, {"topic": "stock.low"}).json()["results"]] == [
        low.pk
    ]
    pending = api_client.get(url, {"status": "pending"}).json()["results"]
    assert {r["id"] for r in pending} == {d.pk for d in shipped}
    assert api_client.get(url, {"status": "lost"}).status_code == 400
    assert api_client.get(url, {"topic": "order.teleported"}).status_code == 400


def test_retry_requeues_a_failed_or_delivered_delivery_with_the_same_id(
    api_client, api_channel, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpointFactory(channel=api_channel)
    for status in (PartnerWebhookDelivery.Status.FAILED, PartnerWebhookDelivery.Status.DELIVERED):
        delivery = _delivery(endpoint, status=status)
        with django_capture_on_commit_callbacks() as callbacks:
            response = api_client.post(f"{BASE}{endpoint.pk}/deliveries/{delivery.pk}/retry")
        assert response.status_code == 202, response.content
        assert response.json()["status"] == "pending"
        assert response.json()["webhook_id"] == delivery.webhook_id
        assert len(callbacks) == 1  # the send task, after commit
        delivery.refresh_from_db()
        assert delivery.status == PartnerWebhookDelivery.Status.PENDING


def test_retry_of_a_pending_delivery_is_a_409(api_client, api_channel):
    endpoint = WebhookEndpointFactory(channel=api_channel)
    delivery = _delivery(endpoint)
    url = f"{BASE}{endpoint.pk}/deliveries/{delivery.pk}/retry"
    _problem(api_client.post(url), 409, "webhook_delivery_pending")
    # A 409 is stored for its Idempotency-Key like any answer.
    first = api_client.post(url, headers={"Idempotency-Key": "retry-1"})
    PartnerWebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
    again = api_client.post(url, headers={"Idempotency-Key": "retry-1"})
    assert first.status_code == again.status_code == 409
    assert again["Idempotent-Replayed"] == "true"


def test_retry_on_a_disabled_endpoint_is_a_409(api_client, api_channel):
    endpoint = WebhookEndpointFactory(channel=api_channel)
    delivery = _delivery(endpoint, status=PartnerWebhookDelivery.Status.FAILED)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
    url = f"{BASE}{endpoint.pk}/deliveries/{delivery.pk}/retry"
    _problem(api_client.post(url), 409, "webhook_endpoint_disabled")


def test_another_endpoints_delivery_is_a_404(api_client, api_channel):
    mine, other = WebhookEndpointFactory.create_batch(2, channel=api_channel)
    delivery = _delivery(other, status=PartnerWebhookDelivery.Status.FAILED)
    response = api_client.post(f"{BASE}{mine.pk}/deliveries/{delivery.pk}/retry")
    _problem(response, 404, "webhook_delivery_not_found")
