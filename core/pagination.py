"""Keyset ("cursor") pagination that stays stable while rows are inserted or updated.

The cursor holds the sort value and id of the last row served; the next page
is everything strictly after it in (value, id) order, which an index on
(channel, value, id) answers without OFFSET.

The page is found and rendered in one statement: the view hands over the
SQL that renders a page's rows (the partner API has Postgres render them as
JSON text, orders/sql.py), and `page_response` runs it over the
page's primary keys.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from core.json_input import json_loads_bounded
from core.pipeline import one_row, prepared_cursor


class KeysetPagination(BasePagination):
    cursor_query_param = "cursor"
    ordering_query_param = "ordering"
    page_size_query_param = "page_size"
    page_size = 50
    max_page_size = 200
    # Allowed orderings: the public name → model field (a datetime).
    orderings = {
        "-created_at": "created_at",
        "created_at": "created_at",
        "-updated_at": "updated_at",
        "updated_at": "updated_at",
    }
    default_ordering = "-created_at"

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Must be an integer from 1 to {self.max_page_size}."
                    ]
                }
            )
        return size

    def _decode(self, raw: str) -> tuple[dt.datetime, int]:
        try:
            # Bounded: a cursor of a thousand `[` must be "Invalid cursor.", not a RecursionError.
            value, pk = json_loads_bounded(base64.urlsafe_b64decode(raw.encode("ascii") + b"==="))
            when = parse_datetime(value)
            if (
                when is None
                or not isinstance(pk, int)
                or isinstance(pk, bool)
                or not 0 < pk < 2**63
            ):
                raise ValueError
            return when, pk
        except (ValueError, TypeError, UnicodeError, binascii.Error):
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None

    @staticmethod
    def _encode(when: dt.datetime, pk: int) -> str:
        raw = json.dumps([when.isoformat(), pk]).encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def _seek(
        self, queryset: QuerySet[Any], request: Request
    ) -> tuple[QuerySet[Any], str, list[Any], int]:
        """The rows after the request's cursor, the sort field, its ORDER BY and the page size."""
        ordering = request.query_params.get(self.ordering_query_param, self.default_ordering)
        if ordering not in self.orderings:
            raise ValidationError(
                {self.ordering_query_param: [f"Must be one of {', '.join(self.orderings)}."]}
            )
        field = self.orderings[ordering]
        descending = ordering.startswith("-")
        size = self._page_size(request)
        raw_cursor = request.query_params.get(self.cursor_query_param)
        if raw_cursor:
            when, pk = self._decode(raw_cursor)
            # "(field, id) after (when, pk)" written so the planner keeps an index
            # range scan on field: the first condition bounds the scan.
            if descending:
                queryset = queryset.filter(
                    Q(**{f"{field}__lte": when}) & (Q(**{f"{field}__lt": when}) | Q(pk__lt=pk))
                )
            else:
                queryset = queryset.filter(
                    Q(**{f"{field}__gte": when}) & (Q(**{f"{field}__gt": when}) | Q(pk__gt=pk))
                )
        order_by = [F(field).desc(), F("pk").desc()] if descending else [F(field), F("pk")]
        return queryset, field, order_by, size

    def page_objects(
        self, queryset: QuerySet[Any], request: Request
    ) -> tuple[list[Any], dict[str, str | None]]:
        """The requested page's model instances, in one query, and its `next`/`next_cursor`.

        For lists rendered in Python (small ones: a channel's webhook endpoints, their
        delivery logs); the order list renders in Postgres with `page_response`.
        """
        queryset, field, order_by, size = self._seek(queryset, request)
        rows = list(queryset.order_by(*order_by)[: size + 1])
        next_cursor = None
        if len(rows) > size:
            rows = rows[:size]
            next_cursor = self._encode(getattr(rows[-1], field), rows[-1].pk)
        next_link = (
            replace_query_param(request.build_absolute_uri(), self.cursor_query_param, next_cursor)
            if next_cursor
            else None
        )
        return rows, {"next": next_link, "next_cursor": next_cursor}

    def page_response(
        self, queryset: QuerySet[Any], request: Request, *, render_sql: str
    ) -> HttpResponse:
        """The requested page of `queryset`, rendered by Postgres, in one statement.

        `render_sql` is a SELECT of one text value (the JSON array of the page's
        rows) over a relation `page(pk, n)`: the rows' primary keys and their
        1-based positions. Finding the page and rendering it share one round trip.
        """
        queryset, field, order_by, size = self._seek(queryset, request)
        fetched = (
            queryset.annotate(_n=Window(RowNumber(), order_by=order_by))
            .order_by(*order_by)
            .values_list("pk", field, "_n")[: size + 1]
        )
        page_sql, params = fetched.query.sql_with_params()
        sql = (
            f"WITH fetched(pk, sort_value, n) AS ({page_sql}), "  # noqa: S608 - compiled SQL
            "page AS (SELECT pk, n FROM fetched WHERE n <= %s) "
            f"SELECT ({render_sql}), "
            "(SELECT sort_value FROM fetched WHERE n = %s), "
            "(SELECT pk FROM fetched WHERE n = %s), "
            "EXISTS (SELECT 1 FROM fetched WHERE n > %s)"
        )
        # Prepared: with a dozen indexes on the table to weigh, planning the page
        # query cost more than running it (filters give a handful of shapes).
        with prepared_cursor() as cursor:
            cursor.execute(sql, [*params, size, size, size, size], prepare=True)
            results_json, last_value, last_pk, has_next = one_row(cursor)
        next_cursor = self._encode(last_value, last_pk) if has_next else None
        next_link = (
            replace_query_param(request.build_absolute_uri(), self.cursor_query_param, next_cursor)
            if next_cursor
            else None
        )
        body = (
            f'{{"next":{json.dumps(next_link)},'
            f'"next_cursor":{json.dumps(next_cursor)},"results":{results_json}}}'
        )
        return HttpResponse(body, content_type="application/json")

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "next_cursor", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "URL of the next page; null on the last page.",
                },
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Opaque cursor of the next page; null on the last page.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from `next_cursor` of the previous page.",
                "schema": {"type": "string"},
            },
            {
                "name": self.ordering_query_param,
                "required": False,
                "in": "query",
                "description": "Sort order; the default is newest first.",
                "schema": {
                    "type": "string",
                    "enum": list(self.orderings),
                    "default": self.default_ordering,
                    # Generated clients name enum members from their values and fall
                    # back to VALUE_0 for "-created_at"; these names read as meant.
                    "x-enum-varnames": [
                        f"{name.lstrip('-')}_desc" if name.startswith("-") else name
                        for name in self.orderings
                    ],
                },
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Orders per page (1 to {self.max_page_size}).",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                },
            },
        ]
