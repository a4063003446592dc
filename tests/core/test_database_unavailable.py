"""A lost database connection answers 503 (problem+json on the API), never a 500 page."""

import pytest
from django.db import OperationalError
from django.urls import reverse


@pytest.fixture
def broken_database(monkeypatch):
    def fail(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    return fail


def test_api_answers_503_problem_when_the_database_is_gone(
    api_client, broken_database, monkeypatch
):
    monkeypatch.setattr("partners.authentication.api_key_for_raw_key", broken_database)
    client = api_client
    client.raise_request_exception = False
    response = client.get("/api/v1/orders/")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "service_unavailable"
    assert response["Retry-After"] == "5"


def test_desk_answers_503_when_the_session_store_is_gone(client, agent, monkeypatch):
    client.force_login(agent)
    client.raise_request_exception = False
    monkeypatch.setattr(
        "django.contrib.sessions.backends.db.SessionStore.load",
        lambda self: (_ for _ in ()).throw(OperationalError("connection refused")),
    )
    response = client.get(reverse("backoffice:desk"))
    assert response.status_code == 503
    assert b"Temporarily unavailable" in response.content
