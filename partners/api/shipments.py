"""Partner API: shipping documents of an order's shipment as PDF."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation

from core.errors import NotFound
from core.views import pdf_response
from logistics import error_codes
from logistics.documents import shipment_document_pdf
from logistics.models import Shipment
from orders.selectors import order_lookup_for_channel
from partners import schema as api_schema
from partners.views import PartnerApiView

DOCUMENT_KINDS = ("commercial-invoice", "packing-slip")


class JsonErrorsNegotiation(BaseContentNegotiation):
    """The document itself is a PDF HttpResponse (no renderer); errors are always JSON.

    Without this, `Accept: application/pdf` would be a 406 and `?format=pdf` would try
    to render a problem as PDF.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ShipmentDocumentApi(PartnerApiView):
    content_negotiation_class = JsonErrorsNegotiation

    @extend_schema(
        operation_id="orders_shipment_document",
        summary="A shipping document of the shipment as PDF",
        description=(
            "`packing-slip` exists for every shipment; `commercial-invoice` for shipments "
            "that cross a customs border (built from the shipment's customs declaration), "
            "else 404."
        ),
        parameters=[
            api_schema.ORDER_NUMBER_PARAMETER,
            OpenApiParameter("shipment_id", int, OpenApiParameter.PATH),
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(DOCUMENT_KINDS)),
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."),
            404: api_schema.NOT_FOUND,
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request, number: str, shipment_id: int, kind: str):
        order = order_lookup_for_channel(channel=self.channel, number=number)
        shipment = (
            Shipment.objects.select_related("order__channel", "warehouse", "provider")
            .filter(order=order, pk=shipment_id)
            .first()
        )
        if shipment is None:
            raise NotFound(
                f"Order {order.number} has no shipment {shipment_id}.",
                code=error_codes.DOCUMENT_NOT_FOUND,
            )
        content, filename = shipment_document_pdf(shipment=shipment, kind=kind)
        return pdf_response(content, filename)
