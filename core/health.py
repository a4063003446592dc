"""Liveness and readiness probes, answered as JSON without touching sessions or auth."""

from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.worker_health import queue_consumers


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not ready", reported by class name
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def _broker_ok() -> str | None:
    # The project's Celery app (config.celery, the current app once Django loaded config):
    # core may not import config.
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.READYZ_TIMEOUT_SECONDS)
            # Connecting to Redis is lazy; a real round trip proves the broker answers.
            client = getattr(conn.default_channel, "client", None)
            if client is not None:
                client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def _workers() -> tuple[dict[str, int], str | None]:
    """Live consumers per queue, and what is wrong if a queue has none."""
    try:
        consumers = queue_consumers()
    except Exception as exc:
        return {}, f"heartbeats unreadable: {type(exc).__name__}: {exc}"[:300]
    idle = [queue for queue, hosts in consumers.items() if not hosts]
    counts = {queue: len(hosts) for queue, hosts in consumers.items()}
    return counts, (f"no live worker consumes {', '.join(idle)}" if idle else None)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database and the broker answer.

    The body also counts the live workers of each queue. A queue nobody consumes is
    reported under `checks.workers` but makes the answer 503 only with `?workers=1`:
    the web tier keeps taking orders into the outbox while workers restart, so a load
    balancer must not take it out of rotation for that; a monitor asks with
    `?workers=1` to page someone.
    """
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    consumers, workers_error = _workers()
    down = {name: error for name, error in checks.items() if error}
    if workers_error and request.GET.get("workers") == "1":
        down["workers"] = workers_error
    check_states = {name: ("ok" if not error else "down") for name, error in checks.items()}
    check_states["workers"] = "ok" if not workers_error else "down"
    body: dict[str, Any] = {
        "status": "ok" if not down else "unavailable",
        "checks": check_states,
        "queue_consumers": consumers,
    }
    if workers_error:
        body["workers"] = workers_error
    if down:
        body["down"] = down
    return JsonResponse(body, status=200 if not down else 503)
