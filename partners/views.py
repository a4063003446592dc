"""The base of every partner API view: API-key auth, per-key throttle, JSON only."""

from django.http import HttpResponse
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.metadata import BaseMetadata
from rest_framework.pagination import BasePagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer

from partners.authentication import ApiKeyAuthentication, refusal_throttled
from partners.parsers import StrictJSONParser
from partners.throttling import ApiKeyRateThrottle


def json_text_response(text: str, *, status: int = 200, headers=None) -> HttpResponse:
    """A response whose body is JSON already rendered (by Postgres: orders/sql.py)."""
    return HttpResponse(text, status=status, headers=headers, content_type="application/json")


class PartnerMetadata(BaseMetadata):
    """OPTIONS answers what the view is and speaks; the schema at /api/schema/ has the rest."""

    def determine_metadata(self, request, view):
        return {
            "name": view.get_view_name(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }


class PartnerApiView(GenericAPIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    metadata_class = PartnerMetadata
    filter_backends: list = []
    pagination_class: type[BasePagination] | None = None

    def handle_exception(self, exc):
        # A request without credentials is refused by the permission check, after the
        # authenticator: count it against its IP as the authenticator counts a bad key.
        if isinstance(exc, NotAuthenticated):
            exc = refusal_throttled(self.request) or exc
        return super().handle_exception(exc)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # "?status=" is a mistake, not "no filter": say so rather than ignore it.
        blank = sorted({name for name, value in request.query_params.lists() if "" in value})
        if blank:
            raise ValidationError({name: ["May not be blank."] for name in blank})

    @property
    def partner(self):
        return self.request.user

    @property
    def channel(self):
        return self.request.user.channel
