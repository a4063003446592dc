"""Partner API: the shared product catalogue (docs/decisions/0008).

Every channel reads every product; a channel with `catalogue_write` creates and
changes them (PUT one, POST a batch of up to 1,000). Product JSON is rendered by
Postgres (inventory/sql.py); ProductSerializer documents it.
"""

from __future__ import annotations

import json
from typing import Any

import django_filters
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status

from core.errors import DomainError, ValidationFailed
from core.pagination import KeysetPagination
from core.problems import flatten_errors, problem_body
from core.serializers import StrictSerializer
from inventory.models import Product
from inventory.selectors import (
    PRODUCTS_PAGE_SQL,
    catalogue_products,
    product_detail_json,
    products_json,
)
from inventory.services.catalogue import (
    BARCODE_PATTERN,
    MAX_BARCODES,
    MAX_BATCH,
    SKU_PATTERN,
    ProductUpsert,
    product_upsert,
    products_upsert_batch,
)
from orders.filters import QueryFilterBackend, UtcDateTimeFilter
from orders.iso import currency_places, is_country
from partners import error_codes
from partners import schema as api_schema
from partners.idempotency import idempotent
from partners.views import PartnerApiView, json_text_response

MAX_INT = 2_147_483_647

PRODUCT_EXAMPLE = {
    "name": "T-shirt black M",
    "barcodes": ["8712345678906", "08712345678906"],
    "weight_grams": 180,
    "length_mm": 300,
    "width_mm": 250,
    "height_mm": 20,
    "hs_code": "610910",
    "country_of_origin": "PT",
    "customs_description": "Cotton T-shirt",
    "customs_value": "6.50",
    "customs_currency": "EUR",
    "active": True,
}


class CatalogueReadOnly(DomainError):
    status = 403
    title = "Catalogue is read-only for this channel"
    code = error_codes.CATALOGUE_READ_ONLY


class ProductSerializer(serializers.Serializer):
    """A product of the shared catalogue, as the API answers it."""

    class Meta:
        ref_name = "Product"

    sku = serializers.CharField()
    name = serializers.CharField()
    barcodes = serializers.ListField(
        child=serializers.CharField(),
        help_text="Every barcode of the product, the primary one (printed on documents) first.",
    )
    weight_grams = serializers.IntegerField()
    length_mm = serializers.IntegerField()
    width_mm = serializers.IntegerField()
    height_mm = serializers.IntegerField()
    hs_code = serializers.CharField(help_text="6 to 10 digits, or empty.")
    country_of_origin = serializers.CharField(help_text="ISO 3166-1 alpha-2, or empty.")
    customs_description = serializers.CharField()
    customs_value = serializers.DecimalField(
        max_digits=14, decimal_places=4, allow_null=True, coerce_to_string=True
    )
    customs_currency = serializers.CharField(help_text="ISO 4217 of customs_value, or empty.")
    active = serializers.BooleanField(help_text="False: orders for it are refused.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProductInputSerializer(StrictSerializer):
    """The fields an upsert sets; a field left out keeps its value (a new product: default)."""

    class Meta:
        ref_name = "ProductUpsert"

    name = serializers.CharField(max_length=200, help_text="Required for a new product.")
    barcodes = serializers.ListField(
        child=serializers.CharField(max_length=64, trim_whitespace=False),
        max_length=MAX_BARCODES,
        help_text=(
            "Replaces the product's barcodes; the first is the primary one. Each barcode "
            "belongs to one product: one held by another SKU is refused (barcode_taken). "
            "`[]` removes them all."
        ),
    )
    weight_grams = serializers.IntegerField(min_value=0, max_value=MAX_INT)
    length_mm = serializers.IntegerField(min_value=0, max_value=MAX_INT)
    width_mm = serializers.IntegerField(min_value=0, max_value=MAX_INT)
    height_mm = serializers.IntegerField(min_value=0, max_value=MAX_INT)
    hs_code = serializers.CharField(
        allow_blank=True,
        max_length=10,
        validators=[RegexValidator(r"^[0-9]{6,10}$", "6 to 10 digits, or empty.")],
        help_text="6 to 10 digits, or empty.",
    )
    country_of_origin = serializers.CharField(
        allow_blank=True,
        max_length=2,
        # Published as the schema's pattern; validate_country_of_origin checks the list.
        validators=[RegexValidator(r"^[A-Z]{2}$", "ISO 3166-1 alpha-2 in capitals.")],
        help_text="ISO 3166-1 alpha-2 in capitals, e.g. PT, or empty.",
    )
    customs_description = serializers.CharField(allow_blank=True, max_length=200)
    customs_value = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        min_value=0,
        allow_null=True,
        coerce_to_string=True,
        help_text="Decimal string per unit; needs customs_currency.",
    )
    customs_currency = serializers.CharField(
        allow_blank=True,
        max_length=3,
        validators=[RegexValidator(r"^[A-Z]{3}$", "ISO 4217 in capitals.")],
        help_text="ISO 4217, e.g. EUR, or empty.",
    )
    active = serializers.BooleanField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
        barcode_child = self.fields["barcodes"].child  # type: ignore[attr-defined]
        barcode_child.validators.append(
            RegexValidator(BARCODE_PATTERN, "1 to 64 printable ASCII, no spaces.")
        )

    def validate_country_of_origin(self, value: str) -> str:
        if value and not is_country(value):
            raise serializers.ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 code.")
        return value

    def validate_customs_currency(self, value: str) -> str:
        if value and currency_places(value) is None:
            raise serializers.ValidationError(f"{value!r} is not an ISO 4217 currency code.")
        return value


class BatchItemSerializer(ProductInputSerializer):
    class Meta:
        ref_name = "ProductBatchItem"

    # An existing product keeps its SKU whatever it is: the service applies SKU_PATTERN
    # to new SKUs only.
    sku = serializers.CharField(
        max_length=64,
        trim_whitespace=False,  # the SKU exactly as sent: " A" is not "A"
        help_text="A new SKU: 1 to 64 printable ASCII characters, no space at either end.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sku"].required = True


class BatchRequestSerializer(serializers.Serializer):
    """Documents the batch body; items are validated one by one (a bad one refuses itself)."""

    class Meta:
        ref_name = "ProductBatch"

    products = serializers.ListField(
        child=BatchItemSerializer(), min_length=1, max_length=MAX_BATCH
    )


class BatchResultSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ProductBatchResult"

    sku = serializers.CharField(allow_null=True, help_text="The item's SKU (null if it had none).")
    status = serializers.ChoiceField(
        choices=[200, 201, 422], help_text="201 created, 200 updated, 422 refused."
    )
    product = ProductSerializer(required=False, help_text="For 200 and 201.")
    problem = api_schema.ProblemSerializer(required=False, help_text="For 422.")


class BatchResponseSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ProductBatchResponse"

    results = BatchResultSerializer(many=True, help_text="One per item, in input order.")


class ProductFilter(django_filters.FilterSet):
    updated_after = UtcDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="ISO 8601, inclusive. To sync, pass the newest updated_at you have seen "
        "minus 60 seconds (see the guarantee in docs/api.md).",
    )

    class Meta:
        model = Product
        fields: list[str] = []


class CataloguePagination(KeysetPagination):
    """Oldest change first: a feed read to the end has seen every product."""

    orderings = {"updated_at": "updated_at"}
    default_ordering = "updated_at"


SKU_PARAMETER = OpenApiParameter(
    name="sku",
    type={"type": "string", "pattern": SKU_PATTERN, "maxLength": 64},
    location=OpenApiParameter.PATH,
    description="The product's SKU, percent-encoded where a path needs it (/, ?, #, %, space).",
    examples=[OpenApiExample("SKU", value="TSHIRT-BLK-M")],
)
PRODUCT_NOT_FOUND = OpenApiResponse(
    api_schema.ProblemSerializer,
    description="No product with this SKU.",
    examples=[
        api_schema.problem_example(
            "Unknown product", 404, "product_not_found", "Not found", "No product 'NOPE-1'."
        )
    ],
)
READ_ONLY = OpenApiResponse(
    api_schema.ProblemSerializer,
    description="The channel may read the catalogue but not change it.",
    examples=[
        api_schema.problem_example(
            "Read-only channel",
            403,
            "catalogue_read_only",
            "Catalogue is read-only for this channel",
            "Channel 'marketplace' may not change the shared catalogue. Ask the Consign "
            "operations team to give it catalogue write access (Channel admin).",
        )
    ],
)
BARCODE_TAKEN = api_schema.problem_example(
    "Barcode taken",
    422,
    "barcode_taken",
    "Validation failed",
    "The product has invalid fields.",
    errors=[{"field": "barcodes[0]", "message": "Barcode 8712345678906 belongs to SKU MUG-WHITE."}],
    barcode_holders=[{"barcode": "8712345678906", "sku": "MUG-WHITE"}],
)


def _invalid(errors: Any) -> ValidationFailed:
    return ValidationFailed(
        "The product has invalid fields.",
        code="invalid_product",
        errors=flatten_errors(errors),
    )


class WritesCatalogue:
    def catalogue_write_check(self) -> None:
        channel = self.channel  # type: ignore[attr-defined]
        if not channel.catalogue_write:
            raise CatalogueReadOnly(
                f"Channel {channel.code!r} may read the shared catalogue but not change it. "
                "Ask the Consign operations team to give it catalogue write access "
                "(Channel admin: 'Catalogue write')."
            )


class ProductListApi(PartnerApiView):
    pagination_class = CataloguePagination
    filter_backends = [QueryFilterBackend]
    filterset_class = ProductFilter

    def get_queryset(self):
        return catalogue_products()

    @extend_schema(
        operation_id="products_list",
        summary="The shared catalogue, oldest change first",
        description=(
            "Every product, whichever channel wrote it, ordered by `updated_at` then id. "
            "Follow `next_cursor` to the end; to sync changes later, start again with "
            "`updated_after` set to the newest `updated_at` you saw minus 60 seconds "
            "(a write commits within that window) and keep the newest copy per SKU."
        ),
        responses={200: ProductSerializer(many=True), **api_schema.COMMON_READ_RESPONSES},
    )
    def get(self, request):
        return self.paginator.page_response(
            self.filter_queryset(self.get_queryset()),
            request,
            render_sql=PRODUCTS_PAGE_SQL,
        )


class ProductDetailApi(WritesCatalogue, PartnerApiView):
    @extend_schema(
        operation_id="products_retrieve",
        summary="Read one product",
        parameters=[SKU_PARAMETER],
        responses={
            200: ProductSerializer,
            404: PRODUCT_NOT_FOUND,
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request, sku: str):
        return json_text_response(product_detail_json(sku=sku))

    @extend_schema(
        operation_id="products_upsert",
        summary="Create or update one product",
        description=(
            "Creates the product (201, `name` required) or changes the fields sent (200); "
            "fields left out keep their value. Sending the same body again changes nothing "
            "but `updated_at`. Needs the channel's catalogue write access (else 403). "
            "`Idempotency-Key` is honoured as on POST."
        ),
        parameters=[SKU_PARAMETER, api_schema.IDEMPOTENCY_KEY_PARAMETER],
        request=ProductInputSerializer,
        responses={
            200: OpenApiResponse(ProductSerializer, description="The product, updated."),
            201: OpenApiResponse(ProductSerializer, description="The product, created."),
            403: READ_ONLY,
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="The Idempotency-Key is in flight.",
                examples=[api_schema.IDEMPOTENCY_CONFLICT],
            ),
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="Invalid fields (`errors`), a barcode another SKU holds "
                "(barcode_taken, `barcode_holders`), or a reused Idempotency-Key.",
                examples=[
                    api_schema.problem_example(
                        "Validation failed",
                        422,
                        "invalid_product",
                        "Validation failed",
                        "The product has invalid fields.",
                        errors=[{"field": "name", "message": "A new product needs a name."}],
                    ),
                    BARCODE_TAKEN,
                    api_schema.IDEMPOTENCY_REUSED,
                ],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
        examples=[OpenApiExample("Product", value=PRODUCT_EXAMPLE, request_only=True)],
    )
    @idempotent
    def put(self, request, sku: str):
        self.catalogue_write_check()
        serializer = ProductInputSerializer(data=request.data)
        if not serializer.is_valid():
            raise _invalid(serializer.errors)
        product, created = product_upsert(
            sku=sku, changes=serializer.validated_data, channel_id=self.channel.pk
        )
        body = products_json(ids=[product.pk])[product.pk]
        if created:
            location = reverse("api:product-detail", kwargs={"sku": sku})
            return json_text_response(
                body, status=status.HTTP_201_CREATED, headers={"Location": location}
            )
        return json_text_response(body)


class ProductBatchApi(WritesCatalogue, PartnerApiView):
    @extend_schema(
        operation_id="products_batch",
        summary="Create or update up to 1,000 products",
        description=(
            "Each item is an upsert as PUT /products/{sku}/ with its `sku`. A body the "
            "schema refuses (an item of the wrong types or formats) is refused whole (422 "
            "invalid_batch, nothing written). Otherwise items are independent: the answer "
            "is 200 with one result per item in input order, `{sku, status: 201|200, "
            "product}` or `{sku, status: 422, problem}` (a new product without a name or "
            "with a SKU outside the pattern, a barcode another SKU holds). A SKU given "
            "twice is refused "
            "the second time; a barcode moves between products in two requests (drop it, "
            "then add it). Send an `Idempotency-Key` to retry safely."
        ),
        parameters=[api_schema.IDEMPOTENCY_KEY_PARAMETER],
        request=BatchRequestSerializer,
        responses={
            200: BatchResponseSerializer,
            403: READ_ONLY,
            409: OpenApiResponse(
                api_schema.ProblemSerializer,
                description="The Idempotency-Key is in flight.",
                examples=[api_schema.IDEMPOTENCY_CONFLICT],
            ),
            422: OpenApiResponse(
                api_schema.ProblemSerializer,
                description='Not `{"products": [1 to 1,000 well-formed items]}` (`errors` '
                "name each field, e.g. `products[3].weight_grams`; nothing is written), or a "
                "reused Idempotency-Key.",
                examples=[api_schema.IDEMPOTENCY_REUSED],
            ),
            **api_schema.COMMON_WRITE_RESPONSES,
        },
        examples=[
            OpenApiExample(
                "Batch",
                value={"products": [{"sku": "TSHIRT-BLK-M", **PRODUCT_EXAMPLE}]},
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request):
        self.catalogue_write_check()
        upserts = _batch_upserts(request.data)
        outcomes = products_upsert_batch(items=upserts, channel_id=self.channel.pk)
        rendered = products_json(ids=[o.product.pk for o in outcomes if o.product is not None])
        parts = []
        for outcome in outcomes:
            if outcome.product is not None:
                parts.append(
                    f'{{"sku":{json.dumps(outcome.sku)},"status":{outcome.status},'
                    f'"product":{rendered[outcome.product.pk]}}}'
                )
            else:
                body = {"sku": outcome.sku, "status": outcome.status}
                if outcome.problem is not None:
                    body["problem"] = _problem(outcome.problem)
                parts.append(json.dumps(body))
        return json_text_response('{"results":[' + ",".join(parts) + "]}")


def _problem(problem: ValidationFailed) -> dict[str, Any]:
    extra = dict(problem.extra)
    if problem.errors:
        extra["errors"] = problem.errors
    return problem_body(
        status=problem.status,
        title=problem.title,
        detail=problem.detail,
        code=problem.code,
        **extra,
    )


class _BatchEnvelope(StrictSerializer):
    # The body's shape only: the items are each validated on their own.
    products = serializers.ListField(min_length=1, max_length=MAX_BATCH)


def _batch_upserts(data: Any) -> list[ProductUpsert]:
    """The items of `{"products": [...]}` as upserts.

    A request the schema refuses (not that shape, an item of the wrong types, formats or
    lengths) is refused whole, nothing written: ValidationFailed (invalid_batch) naming
    every field at fault (`products[3].weight_grams`). What the schema cannot say (a new
    product without a name, a barcode another SKU holds) is each item's own result.
    """
    envelope = _BatchEnvelope(data=data)
    if not envelope.is_valid():
        raise _invalid_batch(envelope.errors)
    # One item serializer for every item (many=True), not a thousand copies of its fields.
    items = BatchItemSerializer(data=envelope.validated_data["products"], many=True)
    if not items.is_valid():
        raise _invalid_batch({"products": items.errors})
    upserts = []
    for data in items.validated_data:
        changes = dict(data)
        upserts.append(ProductUpsert(sku=changes.pop("sku"), changes=changes))  # type: ignore[arg-type]
    return upserts


def _invalid_batch(errors: Any) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields; no product was written.",
        code=error_codes.INVALID_BATCH,
        errors=flatten_errors(errors),
    )
