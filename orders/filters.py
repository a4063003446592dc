"""Query filters of the partner API's order list."""

import copy
import datetime as dt

import django_filters
from django.db.models.functions import Lower
from django.http import QueryDict
from django_filters.constants import EMPTY_VALUES
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

from orders.models import Order


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 datetime, normalised to UTC before it reaches Postgres.

    Postgres refuses UTC offsets beyond ±15:59 that ISO 8601 allows ("+22:40"),
    and converting year-1 or year-9999 times can overflow: both are a 400.
    """

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(dt.UTC)
            except OverflowError:
                raise ValidationError({self.field_name: ["Date out of range."]}) from None
        return super().filter(qs, value)


class LowerEmailFilter(django_filters.CharFilter):
    """Case-insensitive e-mail match through the functional index order_email_ci."""

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        return qs.alias(email_ci=Lower(self.field_name)).filter(email_ci=value.lower())


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Order.Status.choices,
        # Status is a column of the order itself: no join, so no DISTINCT (which would
        # make Postgres sort every matching order before the first page).
        distinct=False,
        help_text="One or more statuses (repeat the parameter: ?status=received&status=allocated).",
    )
    created_after = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601, inclusive."
    )
    created_before = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601, exclusive."
    )
    updated_after = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="ISO 8601, inclusive."
    )
    updated_before = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="lt", help_text="ISO 8601, exclusive."
    )
    external_reference = django_filters.CharFilter(
        field_name="external_reference", max_length=100, help_text="Exact match."
    )
    email = LowerEmailFilter(
        field_name="customer_email", max_length=254, help_text="Customer e-mail, case-insensitive."
    )

    class Meta:
        model = Order
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # django-filter's own __init__ (2.x/25.x) deep-copies every filter, with its
        # choices and lazy help texts, on every request. None of these filters keeps
        # state between requests (no method= filters, which point back at their
        # filter set), so shallow copies carry the same meaning for a fraction of
        # the CPU. Keep in step with django_filters.filterset.BaseFilterSet.__init__.
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: copy.copy(f) for name, f in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self

    def get_form_class(self):
        # django-filter builds a new form class, with new form fields, on every
        # request: a fifth of a list page's CPU. These fields depend on nothing
        # request-specific, so one class serves every request.
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._form_class = form_class
        return form_class


class QueryFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend that builds no filter set for a request naming none of its filters.

    A plain page (`?page_size=50`, the cursor) then costs nothing here; any filter
    parameter, valid or not, goes through the filter set and its validation.
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and not any(
            name in request.query_params for name in filterset_class.base_filters
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)
