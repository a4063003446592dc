"""Show every time in the agent's own time zone.

The browser reports its IANA zone in a cookie (static/backoffice/app.js); a
zone Python does not know is ignored and the server default applies.
"""

from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from core.middleware import MACHINE_PREFIXES

TZ_COOKIE = "consign_tz"


class AgentTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(MACHINE_PREFIXES):
            # Partners and LSPs get the server's time zone whatever cookie they send.
            return self.get_response(request)
        name = unquote(request.COOKIES.get(TZ_COOKIE, ""))
        zone = None
        if name and len(name) < 64:
            try:
                zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                zone = None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
