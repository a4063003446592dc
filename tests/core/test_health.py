import pytest
from django.test import override_settings


@pytest.mark.django_db
def test_healthz_answers_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    checks = response.json()["checks"]
    assert {k: checks[k] for k in ("database", "broker")} == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_it_is_down(client, settings):
    from config.celery import app

    # Port 1 on loopback refuses connections: a broker that is certainly down.
    old = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        with override_settings(READYZ_TIMEOUT_SECONDS=0.5):
            response = client.get("/readyz")
    finally:
        app.conf.broker_url = old
    assert response.status_code == 503
    body = response.json()
    assert {k: body["checks"][k] for k in ("database", "broker")} == {
        "database": "ok",
        "broker": "down",
    }
    assert "broker" in body["down"]


@pytest.fixture
def no_heartbeats(settings):
    from core.worker_health import KEY, _client

    client = _client()
    keys = [KEY.format(queue=queue) for queue in settings.WORKER_QUEUES]
    client.delete(*keys)
    yield client
    client.delete(*keys)


@pytest.mark.django_db
def test_readyz_names_the_queues_no_live_worker_consumes(client, no_heartbeats):
    from core.worker_health import heartbeat_record

    heartbeat_record(hostname="w1@test", queues=["dispatch", "default"])
    response = client.get("/readyz")
    assert response.status_code == 200, "a missing worker does not take the web tier out"
    body = response.json()
    assert body["checks"]["workers"] == "down"
    assert body["queue_consumers"] == {"dispatch": 1, "tracking": 0, "default": 1}
    assert body["workers"] == "no live worker consumes tracking"
    strict = client.get("/readyz?workers=1")
    assert strict.status_code == 503
    assert strict.json()["down"]["workers"] == "no live worker consumes tracking"


@pytest.mark.django_db
def test_a_stale_heartbeat_is_no_live_worker(client, no_heartbeats, settings):
    import time

    from core.worker_health import heartbeat_record

    stale = time.time() - settings.WORKER_HEARTBEAT_SECONDS * 3 - 1
    heartbeat_record(hostname="old@test", queues=list(settings.WORKER_QUEUES), now=stale)
    heartbeat_record(hostname="new@test", queues=["dispatch"])
    body = client.get("/readyz").json()
    assert body["queue_consumers"] == {"dispatch": 1, "tracking": 0, "default": 0}
    heartbeat_record(hostname="new@test", queues=list(settings.WORKER_QUEUES))
    fresh = client.get("/readyz?workers=1")
    assert fresh.status_code == 200
    assert fresh.json()["checks"]["workers"] == "ok"
