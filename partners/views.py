"""The base of every partner API view: API-key auth, per-key throttle, JSON only."""

from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer

from partners.authentication import ApiKeyAuthentication
from partners.parsers import StrictJSONParser
from partners.throttling import ApiKeyRateThrottle


class PartnerApiView(GenericAPIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    filter_backends: list = []
    pagination_class = None

    @property
    def partner(self):
        return self.request.user

    @property
    def channel(self):
        return self.request.user.channel
