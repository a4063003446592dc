"""Liveness and readiness probes, answered as JSON without touching sessions or auth."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request):
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
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.READYZ_TIMEOUT_SECONDS)
            # Connecting to Redis is lazy; a real round trip proves the broker answers.
            client = getattr(conn.default_channel, "client", None)
            if client is not None:
                client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


@never_cache
@require_GET
def readyz(request):
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    down = {name: error for name, error in checks.items() if error}
    body = {
        "status": "ok" if not down else "unavailable",
        "checks": {name: ("ok" if not error else "down") for name, error in checks.items()},
    }
    if down:
        body["down"] = down
    return JsonResponse(body, status=200 if not down else 503)
