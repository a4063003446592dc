"""Partner API: stock available to sell for the key's channel.

Two readings of one URL: `?sku=` answers for the SKUs asked (a list), and without `sku`
the inventory feed pages through every SKU the channel can sell, or, with
`updated_after`, through those whose stock changed since (the journal of stock changes,
inventory.selectors.stock_feed_page).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from core.json_input import json_loads_bounded
from inventory.selectors import (
    MAX_XID,
    ChangesCursor,
    stock_available_for_channel,
    stock_feed_page,
)
from partners import schema as api_schema
from partners.views import PartnerApiView

MAX_SKUS = 100
FEED_PAGE_SIZE = 500
FEED_MAX_PAGE_SIZE = 1000
FEED_PARAMETERS = ("cursor", "page_size", "by_warehouse", "updated_after")
_TRUE, _FALSE = ("1", "true"), ("0", "false")
_MAX_XID = MAX_XID
# Cursors carry a snapshot's transactions in progress (inventory.selectors.ChangesCursor);
# past this many, the cursor keeps only the oldest (a superset, see ChangesCursor.bounded),
# so that a cursor always fits in a URL.
MAX_IN_PROGRESS = 100
MAX_CURSOR = 2048  # a 64-character SKU of 4-byte characters and 100 ids, in base64 JSON


def _b64_json(value: object) -> str:
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _from_b64_json(raw: str) -> Any:
    # Bounded: a cursor of a thousand `[` is "Invalid cursor.", not a RecursionError.
    return json_loads_bounded(base64.urlsafe_b64decode(raw.encode("ascii") + b"==="))


def _xid(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _MAX_XID:
        raise ValueError(value)
    return value


def _changes(xmax: object, in_progress: object) -> ChangesCursor:
    if not isinstance(in_progress, list) or len(in_progress) > MAX_IN_PROGRESS:
        raise ValueError(in_progress)
    return ChangesCursor(xmax=_xid(xmax), in_progress=tuple(_xid(x) for x in in_progress))


def changes_token(cursor: ChangesCursor) -> str:
    """The opaque `changes_cursor` clients pass back as `updated_after`."""
    return _b64_json(["changes", cursor.xmax, list(cursor.in_progress)])


def page_cursor(*, last_sku: str, changes: ChangesCursor) -> str:
    """The opaque `next_cursor`: where the walk is, and the changes cursor of its first page
    (every page of one walk reports that one, so a sync that ends later misses nothing)."""
    return _b64_json([last_sku, changes.xmax, list(changes.in_progress)])


def _decode_page_cursor(raw: str) -> tuple[str, ChangesCursor]:
    try:
        if len(raw) > MAX_CURSOR:
            raise ValueError(raw)
        last_sku, xmax, in_progress = _from_b64_json(raw)
        if not isinstance(last_sku, str) or not 0 < len(last_sku) <= 64 or "\x00" in last_sku:
            raise ValueError(last_sku)
        return last_sku, _changes(xmax, in_progress)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise ValidationError({"cursor": ["Invalid cursor."]}) from None


def _decode_updated_after(raw: str) -> ChangesCursor | dt.datetime:
    try:
        when = parse_datetime(raw)
    except ValueError:  # well formed but impossible, e.g. 2024-02-30
        raise ValidationError({"updated_after": ["Not a valid date and time."]}) from None
    if when is not None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        try:
            return when.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError({"updated_after": ["Date out of range."]}) from None
    try:
        if len(raw) > MAX_CURSOR:
            raise ValueError(raw)
        kind, xmax, in_progress = _from_b64_json(raw)
        if kind != "changes":
            raise ValueError(kind)
        return _changes(xmax, in_progress)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise ValidationError(
            {"updated_after": ["Give a changes_cursor from the feed or an ISO 8601 time."]}
        ) from None


def _flag(request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw.lower() in _FALSE:
        return False
    if raw.lower() in _TRUE:
        return True
    raise ValidationError({name: ["Use 1 or 0."]})


def _page_size(request) -> int:
    raw = request.query_params.get("page_size")
    if raw is None:
        return FEED_PAGE_SIZE
    size = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0
    if not 1 <= size <= FEED_MAX_PAGE_SIZE:
        raise ValidationError(
            {"page_size": [f"Must be an integer from 1 to {FEED_MAX_PAGE_SIZE}."]}
        )
    return size


class WarehouseAvailabilitySerializer(serializers.Serializer):
    warehouse = serializers.CharField(help_text="Warehouse code.")
    available = serializers.IntegerField(min_value=0)


class InventoryFeedItemSerializer(serializers.Serializer):
    sku = serializers.CharField()
    available = serializers.IntegerField(
        min_value=0,
        help_text="On hand minus reserved, summed over the warehouses the channel ships from.",
    )
    warehouses = WarehouseAvailabilitySerializer(
        many=True,
        required=False,
        help_text="With `by_warehouse=1` only: each warehouse the channel ships from, by code "
        "(0 where it holds none).",
    )


class InventoryPageSerializer(serializers.Serializer):
    next = serializers.URLField(
        allow_null=True, help_text="URL of the next page; null on the last."
    )
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Opaque cursor of the next page; null on the last page."
    )
    changes_cursor = serializers.CharField(
        help_text="Opaque. Once you have walked every page, pass it as `updated_after` to get "
        "only what changed since this walk began (the same on every page of one walk)."
    )
    results = InventoryFeedItemSerializer(many=True)


class InventoryApi(PartnerApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StockAvailability"

        sku = serializers.CharField()
        available = serializers.IntegerField(
            help_text="On hand minus reserved, summed over the warehouses the channel ships from."
        )

    @extend_schema(
        operation_id="inventory_list",
        summary="Stock available to sell: for some SKUs, or the paged feed of every SKU",
        description=(
            "With `sku`: a list, one item per SKU asked (0 for SKUs the channel's warehouses do "
            "not hold). Without `sku`: the inventory feed, every active SKU by SKU in pages "
            "(`results`, `next_cursor`); follow `next_cursor` until it is null, keep the last "
            "`changes_cursor`, and later poll with `updated_after=<changes_cursor>` for the SKUs "
            "whose stock changed since (then keep that answer's `changes_cursor`). A change is "
            "never missed, and rarely sent twice. `updated_after` also takes an "
            "ISO 8601 time (changes recorded at or after it). The feed parameters may not be "
            "combined with `sku`. The channel's warehouses themselves changing (a warehouse "
            "added, closed) is not a stock change: run a full sync after one."
        ),
        parameters=[
            OpenApiParameter(
                name="sku",
                type={
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 64},
                    "minItems": 1,
                    "maxItems": MAX_SKUS,
                },
                location=OpenApiParameter.QUERY,
                required=False,
                explode=True,
                description=(
                    f"One or more SKUs (repeat the parameter: ?sku=A&sku=B; at most {MAX_SKUS}). "
                    "SKUs the channel's warehouses do not hold report 0. Without it, the feed."
                ),
            ),
            OpenApiParameter(
                name="cursor",
                type={"type": "string", "maxLength": MAX_CURSOR},
                location=OpenApiParameter.QUERY,
                description="Feed only: `next_cursor` of the previous page.",
            ),
            OpenApiParameter(
                name="page_size",
                # No schema default: generated clients send a declared default on every
                # call, and the feed's parameters are refused beside `sku`.
                type={"type": "integer", "minimum": 1, "maximum": FEED_MAX_PAGE_SIZE},
                location=OpenApiParameter.QUERY,
                description=(
                    f"Feed only: SKUs per page (1 to {FEED_MAX_PAGE_SIZE}; "
                    f"{FEED_PAGE_SIZE} when not given)."
                ),
            ),
            OpenApiParameter(
                name="by_warehouse",
                type={"type": "string", "enum": ["1", "0", "true", "false"]},
                location=OpenApiParameter.QUERY,
                description="Feed only: `1` adds `warehouses` (availability per warehouse).",
            ),
            OpenApiParameter(
                name="updated_after",
                type={"type": "string", "maxLength": MAX_CURSOR},
                location=OpenApiParameter.QUERY,
                description=(
                    "Feed only: a `changes_cursor` from an earlier walk (exact: nothing is "
                    "missed), or an ISO 8601 time (changes recorded at or after it)."
                ),
                examples=[
                    OpenApiExample("Changes cursor", value="WyJjaGFuZ2VzIiw3NDEsWzczOF1d"),
                    OpenApiExample("Time", value="2026-01-31T12:00:00Z"),
                ],
            ),
        ],
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="Inventory",
                    serializers=[OutputSerializer(many=True), InventoryPageSerializer],
                    resource_type_field_name=None,
                    many=False,
                ),
                description="With `sku`: a list, in the order asked. Without: a feed page.",
            ),
            **api_schema.COMMON_READ_RESPONSES,
        },
    )
    def get(self, request):
        if "sku" not in request.query_params:
            return self._feed(request)
        mixed = [name for name in FEED_PARAMETERS if name in request.query_params]
        if mixed:
            raise ValidationError({name: ["Not with `sku` (feed only)."] for name in mixed})
        requested = request.query_params.getlist("sku")
        # Counted as sent (the schema's maxItems), repeats included.
        if not 1 <= len(requested) <= MAX_SKUS:
            raise ValidationError({"sku": [f"Give 1 to {MAX_SKUS} SKUs."]})
        skus = list(dict.fromkeys(requested))
        if any(len(sku) > 64 for sku in skus):
            raise ValidationError({"sku": ["A SKU has at most 64 characters."]})
        # A SKU with a NUL character cannot exist (and Postgres refuses it in a query).
        available = stock_available_for_channel(
            channel=self.channel, skus=[sku for sku in skus if "\x00" not in sku]
        )
        data = [{"sku": sku, "available": max(0, available.get(sku, 0))} for sku in skus]
        return Response(self.OutputSerializer(data, many=True).data)

    def _feed(self, request) -> HttpResponse:
        size = _page_size(request)
        by_warehouse = _flag(request, "by_warehouse")
        raw_since = request.query_params.get("updated_after")
        since = _decode_updated_after(raw_since) if raw_since is not None else None
        raw_cursor = request.query_params.get("cursor")
        after, walk_changes = _decode_page_cursor(raw_cursor) if raw_cursor else ("", None)
        page = stock_feed_page(
            warehouse_ids=list(self.channel.warehouses.values_list("id", flat=True)),
            after_sku=after,
            size=size,
            by_warehouse=by_warehouse,
            changed_since=since,
        )
        changes = walk_changes or page.changes_cursor.bounded(MAX_IN_PROGRESS)
        next_cursor = (
            page_cursor(last_sku=page.last_sku, changes=changes) if page.last_sku else None
        )
        next_link = (
            replace_query_param(request.build_absolute_uri(), "cursor", next_cursor)
            if next_cursor
            else None
        )
        body = (
            f'{{"next":{json.dumps(next_link)},"next_cursor":{json.dumps(next_cursor)},'
            f'"changes_cursor":{json.dumps(changes_token(changes))},'
            f'"results":{page.results_json}}}'
        )
        return HttpResponse(body, content_type="application/json")
