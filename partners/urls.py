"""URLs of the partner API (/api/): version 1 resources, the OpenAPI schema and its docs."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path, register_converter
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from partners.api.inbound import InboundCancelApi, InboundDetailApi, InboundListCreateApi
from partners.api.inventory import InventoryApi
from partners.api.order_batch import OrderBatchApi
from partners.api.orders import (
    OrderCancelApi,
    OrderDetailApi,
    OrderListCreateApi,
    OrderShipmentsApi,
)
from partners.api.products import ProductBatchApi, ProductDetailApi, ProductListApi
from partners.api.returns import OrderReturnsApi
from partners.api.shipments import ShipmentDocumentApi
from partners.api.webhook_endpoints import (
    WebhookDeliveryListApi,
    WebhookDeliveryRetryApi,
    WebhookEndpointDetailApi,
    WebhookEndpointListCreateApi,
    WebhookEndpointRotateSecretApi,
)


class OrderNumberConverter:
    # Anything else is a 404 before it reaches the database.
    regex = r"[A-Za-z0-9][A-Za-z0-9-]{0,19}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(OrderNumberConverter, "order_number")


class SkuConverter:
    # Any SKU a product can have (64 characters, "/" included when sent as is or as %2F):
    # new SKUs follow inventory.services.catalogue.SKU_PATTERN, older ones are read as
    # they are. products/batch (no trailing slash) stays the batch.
    regex = r"[^\x00]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SkuConverter, "sku")

app_name = "api"

_DOCS_CSP = {"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"], "img-src": ["data:"]}

v1 = [
    path("orders/", OrderListCreateApi.as_view(), name="order-list"),
    # No trailing slash, as the contract spells it; `orders/<number>/` needs one, so it
    # cannot take this path (and "batch" is no order number a partner can be given).
    path("orders/batch", OrderBatchApi.as_view(), name="order-batch"),
    path("orders/<order_number:number>/", OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<order_number:number>/cancel/", OrderCancelApi.as_view(), name="order-cancel"),
    path(
        "orders/<order_number:number>/shipments/",
        OrderShipmentsApi.as_view(),
        name="order-shipments",
    ),
    path(
        "orders/<order_number:number>/shipments/<int:shipment_id>/documents/<slug:kind>.pdf",
        ShipmentDocumentApi.as_view(),
        name="order-shipment-document",
    ),
    path("orders/<order_number:number>/returns/", OrderReturnsApi.as_view(), name="order-returns"),
    path("inventory/", InventoryApi.as_view(), name="inventory"),
    path("inbound-shipments/", InboundListCreateApi.as_view(), name="inbound-list"),
    path(
        "inbound-shipments/<order_number:number>/",
        InboundDetailApi.as_view(),
        name="inbound-detail",
    ),
    path(
        "inbound-shipments/<order_number:number>/cancel/",
        InboundCancelApi.as_view(),
        name="inbound-cancel",
    ),
    path(
        "webhook-endpoints/", WebhookEndpointListCreateApi.as_view(), name="webhook-endpoint-list"
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/",
        WebhookEndpointDetailApi.as_view(),
        name="webhook-endpoint-detail",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/rotate-secret",
        WebhookEndpointRotateSecretApi.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/deliveries/",
        WebhookDeliveryListApi.as_view(),
        name="webhook-delivery-list",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>/retry",
        WebhookDeliveryRetryApi.as_view(),
        name="webhook-delivery-retry",
    ),
    path("products/", ProductListApi.as_view(), name="product-list"),
    path("products/batch", ProductBatchApi.as_view(), name="product-batch"),
    path("products/<sku:sku>/", ProductDetailApi.as_view(), name="product-detail"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file, so the strict CSP
    # (no inline scripts) holds; the two doc pages alone may use inline styles, which
    # Swagger UI and Redoc inject, and Redoc's blob: worker.
    path(
        "docs/",
        csp_update(_DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
        name="docs",
    ),
    path(
        "redoc/",
        csp_update(_DOCS_CSP)(SpectacularRedocView.as_view(url_name="api:schema")),
        name="redoc",
    ),
]
