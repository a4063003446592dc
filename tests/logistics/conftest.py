import pytest

from config.celery import app as celery_app
from tests.backoffice.browser import chromium, handheld_page  # noqa: F401 (browser tests)


@pytest.fixture
def eager_celery():
    """Run tasks inline (unit tests only; integration tests use a real worker)."""
    old = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield celery_app
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = old


@pytest.fixture(autouse=True)
def _empty_broker_queues(request, monkeypatch):
    """Unit tests see drained queues (sweepers run); integration tests use the real broker."""
    if request.node.get_closest_marker("integration"):
        return
    monkeypatch.setattr("logistics.broker.queue_backlog", lambda queue: 0)


@pytest.fixture(autouse=True)
def _fresh_provider_cache():
    from logistics.views import provider_cache_clear

    provider_cache_clear()
    yield
    provider_cache_clear()
