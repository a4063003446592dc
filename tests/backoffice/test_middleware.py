"""Times are rendered in the zone the agent's browser reports."""

from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from backoffice.middleware import TZ_COOKIE, AgentTimezoneMiddleware


def _zone_seen(cookie: str | None) -> str:
    seen = {}

    def view(request):
        seen["zone"] = timezone.get_current_timezone_name()
        return HttpResponse()

    request = RequestFactory().get("/desk/")
    if cookie is not None:
        request.COOKIES[TZ_COOKIE] = cookie
    AgentTimezoneMiddleware(view)(request)
    return seen["zone"]


def test_browser_zone_from_the_cookie_is_activated():
    assert _zone_seen("America%2FNew_York") == "America/New_York"


def test_unknown_or_hostile_zone_falls_back_to_the_default():
    assert _zone_seen("Mars/Olympus") == "UTC"
    assert _zone_seen("../../etc/passwd") == "UTC"


def test_zone_does_not_leak_into_the_next_request():
    _zone_seen("Asia/Tokyo")
    assert timezone.get_current_timezone_name() == "UTC"
