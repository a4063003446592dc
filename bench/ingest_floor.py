"""WSGI app for bench/tracking_ingest.py: Consign's URLs plus a floor endpoint.

The floor endpoint does the least a webhook receiver can do (insert the raw body,
answer 202) so the benchmark can compare the real endpoint against it.
"""

import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # a development tool: production is the default

from django.conf import settings  # noqa: E402

settings.ROOT_URLCONF = "ingest_floor"

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from config.urls import urlpatterns as consign_urlpatterns  # noqa: E402


@csrf_exempt
def floor(request, provider_id: int):
    body = request.body.decode("utf-8", errors="replace")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO logistics_inboundwebhook (provider_id, webhook_id, body, status, "
            "received_at, attempts, error) VALUES (%s, %s, %s, 'processed', now(), 0, '')",
            [provider_id, f"floor_{uuid.uuid4().hex}", body],
        )
    return HttpResponse(status=202)


urlpatterns = [*consign_urlpatterns, path("bench/floor/<int:provider_id>/", floor)]
