"""Every error under /api/ is RFC 9457 problem+json, never HTML and never a 500 for bad input."""

import pytest
from rest_framework.test import APIClient

URL = "/api/v1/orders/"


def _problem(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    assert body["detail"]
    return body


def test_unknown_api_url_is_404_problem(api_client):
    _problem(api_client.get("/api/v1/nothing-here/"), 404)


def test_unknown_api_url_without_auth_is_404_problem(db):
    _problem(APIClient().get("/api/v2/orders/"), 404)


def test_post_without_trailing_slash_is_404_not_redirect(api_client):
    _problem(api_client.post("/api/v1/orders", {}, format="json"), 404)


def test_order_number_with_odd_characters_is_404(api_client):
    _problem(api_client.get("/api/v1/orders/%00bad/"), 404)


def test_wrong_method_is_405_with_allow(api_client):
    response = api_client.delete(URL)
    _problem(response, 405)
    assert "POST" in response["Allow"]


def test_non_json_body_is_415(api_client, api_world):
    response = api_client.post(URL, "a=b", content_type="application/x-www-form-urlencoded")
    _problem(response, 415)


def test_415_title_is_the_status_phrase_not_a_template(api_client, api_world):
    response = api_client.post(URL, "a=b", content_type="application/x-www-form-urlencoded")
    body = _problem(response, 415)
    assert body["title"] == "Unsupported Media Type"
    assert "{" not in body["title"] + body["detail"]
    assert "application/x-www-form-urlencoded" in body["detail"]


def test_405_title_is_the_status_phrase_not_a_template(api_client):
    assert _problem(api_client.delete(URL), 405)["title"] == "Method Not Allowed"


@pytest.mark.parametrize(
    "query",
    [
        {"ordering": "sideways"},
        {"page_size": "0"},
        {"cursor": "not-a-cursor"},
        {"created_after": "yesterday"},
        {"status": ""},
    ],
)
def test_bad_query_parameter_is_400_about_the_query_string(api_client, query):
    body = _problem(api_client.get(URL, query), 400)
    assert body["detail"] == "The query string has invalid parameters."
    assert [error["field"] for error in body["errors"]] == list(query)


def test_blank_query_parameter_on_a_post_is_about_the_query_string(api_client, order_payload):
    response = api_client.post(f"{URL}?x=", order_payload, format="json")
    assert _problem(response, 400)["detail"] == "The query string has invalid parameters."


def test_too_many_skus_are_400_about_the_query_string(api_client):
    body = _problem(api_client.get("/api/v1/inventory/", {"sku": ["A"] * 101}), 400)
    assert body["detail"] == "The query string has invalid parameters."


def test_body_over_one_mebibyte_is_413(api_client):
    body = '{"x": "' + "a" * (1024 * 1024) + '"}'
    _problem(api_client.post(URL, body, content_type="application/json"), 413)


def test_malformed_json_is_400(api_client):
    _problem(api_client.post(URL, '{"lines": [', content_type="application/json"), 400)


def test_json_with_lone_surrogate_is_400(api_client):
    body = '{"external_reference": "\\ud800"}'
    _problem(api_client.post(URL, body, content_type="application/json"), 400)


def test_deeply_nested_json_is_400(api_client):
    body = "[" * 100_000 + "]" * 100_000
    _problem(api_client.post(URL, body, content_type="application/json"), 400)


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null"])
def test_body_that_is_not_an_object_is_422(api_client, body):
    body_json = _problem(api_client.post(URL, body, content_type="application/json"), 422)
    assert body_json["errors"]


def test_nul_character_in_a_field_is_422(api_client, order_payload, api_world):
    order_payload["external_reference"] = "A\x00B"
    response = api_client.post(URL, order_payload, format="json")
    assert _problem(response, 422)["errors"][0]["field"] == "external_reference"


def test_unhandled_error_is_500_problem_not_html(api_client, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("partners.api.orders.order_detail_json_for_channel", boom)
    api_client.raise_request_exception = False
    _problem(api_client.get(f"{URL}CS-000001/"), 500)


def test_schema_is_served(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/orders/" in schema["paths"]
    create = schema["paths"]["/api/v1/orders/"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert "Idempotent-Replayed" in create["responses"]["201"]["headers"]
    assert "Retry-After" in create["responses"]["429"]["headers"]


def test_docs_page_uses_local_assets(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()


def test_domain_error_extra_named_status_does_not_clobber_http_status():
    from core.errors import Conflict
    from core.problems import problem_exception_handler

    response = problem_exception_handler(Conflict("busy", status="shipped"), {})
    assert response.status_code == 409
    assert response.data["status"] == 409
    assert response.data["status_value"] == "shipped"


def test_partner_api_answers_carry_a_json_only_csp_and_no_cookies(api_client):
    from core.middleware import PARTNER_API_CSP

    for response in (api_client.get("/api/v1/orders/"), api_client.get("/api/v1/nowhere/")):
        assert response["Content-Security-Policy"] == PARTNER_API_CSP
        assert response["X-Content-Type-Options"] == "nosniff"
        assert not response.cookies


def test_partner_api_times_ignore_the_back_office_time_zone_cookie(api_client, api_channel):
    from tests.orders.factories import OrderFactory

    order = OrderFactory(channel=api_channel)
    api_client.cookies["consign_tz"] = "Asia/Tokyo"
    body = api_client.get(f"/api/v1/orders/{order.number}/").json()
    assert body["created_at"].endswith("Z")
