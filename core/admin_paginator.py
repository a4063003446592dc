"""Admin list pages that stay cheap on tables with millions of rows.

Django's changelist counts the rows twice (the filtered result and the whole
table) with COUNT(*), which reads every row of a big table. Here an unfiltered
list takes the planner's estimate from pg_class.reltuples, a filtered list
counts at most COUNT_CAP rows, and the full count is switched off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

# A filtered list counts up to this many rows; beyond it the pager shows this many.
COUNT_CAP = 10_000
# At most this many rows (the newest) per exact-match search field.
SEARCH_LIMIT = 500


def table_row_estimate(*, model: type[Model], using: str = "default") -> int:
    """The planner's row estimate of the model's table (-1 when never analysed)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else -1


if TYPE_CHECKING:
    from django.contrib.admin.options import BaseModelAdmin

    _PaginatorBase = Paginator[Any]
    _AdminBase = admin.ModelAdmin[Any]  # the mixins always sit in front of a ModelAdmin
    _AnyAdminBase = BaseModelAdmin[Any]  # ... or of an inline
    _InlineBase = admin.TabularInline[Any, Any]
else:
    _PaginatorBase = Paginator
    _AdminBase = object
    _AnyAdminBase = object
    _InlineBase = admin.TabularInline


class EstimatedCountPaginator(_PaginatorBase):
    """Estimated count for an unfiltered big table, capped exact count otherwise."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet):
            unfiltered = not queryset.query.where and not queryset.query.distinct
            if unfiltered:
                estimate = table_row_estimate(model=queryset.model, using=queryset.db)
                if estimate >= COUNT_CAP:
                    return estimate
            # Small or filtered: an exact count, but never more than COUNT_CAP + 1 rows read.
            return queryset.order_by()[: COUNT_CAP + 1].count()
        return super().count


class BigTableAdminMixin(_AdminBase):
    """For ModelAdmins of tables that can hold millions of rows."""

    paginator: ClassVar[type] = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    # Fields matched exactly by the admin search box; each must be an indexed lookup.
    exact_search_fields: tuple[str, ...] = ()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Exact matches on indexed columns instead of Django's `icontains` table scans.

        One query per field, joined by primary key afterwards: an OR across joined
        tables (`tracking_number = x OR order.number = x`) makes Postgres scan both.
        """
        term = search_term.strip()
        if not term or not self.exact_search_fields:
            return super().get_search_results(request, queryset, search_term)
        spellings = sorted({term, term.upper()})
        pks: set[Any] = set()
        for field in self.exact_search_fields:
            pks.update(
                self.model._default_manager.filter(**{f"{field}__in": spellings})
                .order_by("-pk")
                .values_list("pk", flat=True)[:SEARCH_LIMIT]
            )
        return queryset.filter(pk__in=pks), False


class ReadOnlyAdminMixin(_AnyAdminBase):
    """Ledger, timeline and service-owned rows: visible in the admin, never edited there."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, _InlineBase):
    """A read-only timeline inline (events, tracking, lines)."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        # The inlines list plain field names (no groups): every one of them is read-only.
        if self.fields:
            return [str(name) for name in self.fields]
        return [f.name for f in self.model._meta.fields]
