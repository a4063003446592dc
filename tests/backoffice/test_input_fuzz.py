"""Fuzz: no value in any back-office form field, query parameter or URL part is a 5xx.

The pages come from the URLconf (backoffice.urls), and what each view reads from its
source: `request.GET.get("...")`, `request.POST.get(f"qty_{...}")` and the forms it
binds to request.GET or request.POST (their fields). Every field gets each bad value
in turn while the others stay valid, so the bad value reaches as deep as it can:
NUL, 10,000 digits (too long for any text field and for int()), numbers no column
holds, text where a number belongs. The superuser tries one field at a time; each role
tries all fields at once with a few of the values (what it may not do is a 403, which
is fine too). The ops form the admin adds (receiving by barcode) and the admin's own
query parameters are in it too.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from dataclasses import dataclass, field

import pytest
from django import forms
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern

from backoffice import urls as backoffice_urls
from backoffice.models import BulkJob
from economics.models import Dispute, Invoice
from inventory.admin_ops import ReceiveForm
from logistics.models import PickWave, Shipment
from orders.models import Hold, Order
from orders.services.holds import order_hold_place
from returns.services import RequestedLine, return_label_issue, return_request_create
from routing.models import Rule, WhatIfRun
from routing.services.rulesets import ruleset_draft_create
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.inventory.helpers import asn
from tests.logistics.factories import ShipmentFactory, WebhookEndpointFactory
from tests.orders.factories import OrderFactory, OrderLineFactory
from tests.returns.helpers import FakeReturnAdapter, delivered_order

pytestmark = pytest.mark.django_db

BAD_VALUES = {
    "nul": "a\x00b",
    # Over-long for every text field, and too many digits for int() (over 4,300).
    "long": "9" * 10_000,
    "over_range": "99999999999",
    "under_range": "-99999999999",
    "not_a_number": "abc",
}

ROLE_VALUES = ("nul", "long", "under_range")

GET_PARAM = re.compile(r"""request\.GET\.(?:get|getlist)\(\s*"(\w+)\"""")
POST_PARAM = re.compile(r"""request\.POST\.(?:get|getlist)\(\s*(f?)"([^"]+)\"""")
BOUND_FORM = re.compile(r"(\w+Form)\(\s*request\.(GET|POST)")
ROUTE_PART = re.compile(r"<(?:(\w+):)?(\w+)>")

# Valid values of fields read straight from request.POST, by name (before "_<id>").
RAW_VALID = {
    "qty": "1",
    "reason": "other",
    "condition": "as_new",
    "disposition": "restock",
    "note": "fuzz",
    "next": "/warehouse/dispatch/",
}


@dataclass
class Endpoint:
    name: str
    url: str
    methods: set[str]
    get_params: set[str] = field(default_factory=set)
    post_valid: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    order: Order
    delivered: Order
    hold: Hold
    shipment: Shipment
    level_id: int
    inbound_id: int
    return_id: int
    return_line_ids: list[int]
    job_id: int
    sku: str
    endpoint_id: int
    invoice_id: int
    dispute_id: int
    ruleset_id: int
    rule_id: int
    wave_id: int
    run_id: int

    def url_value(self, pattern_name: str, part: str) -> str:
        if part == "number":
            order = self.delivered if pattern_name == "order_return_request" else self.order
            return order.number
        return {
            "hold_id": str(self.hold.pk),
            "shipment_id": str(self.shipment.pk),
            "kind": "packing-slip",
            "return_id": str(self.return_id),
            "level_id": str(self.level_id),
            "inbound_id": str(self.inbound_id),
            "job_id": str(self.job_id),
            "endpoint_id": str(self.endpoint_id),
            "invoice_id": str(self.invoice_id),
            "dispute_id": str(self.dispute_id),
            "ruleset_id": str(self.ruleset_id),
            "rule_id": str(self.rule_id),
            "wave_id": str(self.wave_id),
            "run_id": str(self.run_id),
        }[part]


@pytest.fixture
def world(superuser) -> World:
    order = OrderFactory(status=Order.Status.ALLOCATED)
    OrderLineFactory(order=order, line_number=1)
    OrderLineFactory(order=order, line_number=2)
    hold = order_hold_place(order=order, reason=Hold.Reason.MANUAL, note="", user=superuser)
    shipment = ShipmentFactory(order=order, status=Shipment.Status.DISPATCH_FAILED)
    delivered = delivered_order(quantities=(2, 1))
    return_request = return_request_create(
        order=delivered,
        lines=[RequestedLine(line_number=1, quantity=1, reason="size_fit")],
        actor="test",
    )
    return_label_issue(return_id=return_request.pk, adapter=FakeReturnAdapter())
    warehouse = WarehouseFactory()
    product = ProductFactory(sku="FUZZ-1", barcode="5012345678900")
    level = StockLevelFactory(product=product, warehouse=warehouse, on_hand=10)
    inbound = asn(warehouse=warehouse, reference="ASN-FUZZ", lines=[("FUZZ-1", 2)])
    wave = PickWave.objects.create(warehouse=warehouse, number=1)
    job = BulkJob.objects.create(kind=BulkJob.Kind.ORDER_EXPORT, created_by=superuser)
    endpoint = WebhookEndpointFactory(channel=order.channel)
    invoice = Invoice.objects.create(
        provider=shipment.provider, number="INV-FUZZ", currency="EUR",
        period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 30),
        invoiced_total=1, expected_total=0, summary={"lines": 1},
    )  # fmt: skip
    dispute = Dispute.objects.create(
        invoice=invoice, shipment=shipment, kind="not_invoiced", expected=1, difference=-1
    )
    rule_set = ruleset_draft_create(name="fuzz", actor="fuzz")
    rule = Rule.objects.create(rule_set=rule_set, position=1, name="fuzz rule")
    run = WhatIfRun.objects.create(
        rule_set=rule_set, period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 30)
    )
    return World(
        order=order,
        delivered=delivered,
        hold=hold,
        shipment=shipment,
        level_id=level.pk,
        inbound_id=inbound.pk,
        return_id=return_request.pk,
        return_line_ids=list(return_request.lines.values_list("pk", flat=True)),
        job_id=job.pk,
        sku=product.sku,
        endpoint_id=endpoint.pk,
        invoice_id=invoice.pk,
        dispute_id=dispute.pk,
        ruleset_id=rule_set.pk,
        rule_id=rule.pk,
        wave_id=wave.pk,
        run_id=run.pk,
    )


def _valid_form_value(name: str, form_field: forms.Field, world: World) -> str:
    overrides = {"shipping_country": "NL", "barcode": world.sku, "numbers": world.order.number}
    if name in overrides:
        return overrides[name]
    if isinstance(form_field, forms.BooleanField):
        return "on"
    if isinstance(form_field, forms.ModelChoiceField) and form_field.queryset is None:
        # Its choices are set per request (the form's __init__); blank is the valid value
        # of an optional one, and the fuzzed values go to it all the same.
        return ""
    if isinstance(form_field, forms.ChoiceField):
        # Choices the form's __init__ sets per request (the re-route's sites) are empty
        # here: blank, as above.
        return next((str(value) for value, _ in form_field.choices if value != ""), "")
    if isinstance(form_field, forms.IntegerField):
        return str(max(form_field.min_value or 0, 1))
    return "x" * max(getattr(form_field, "min_length", None) or 1, 1)


def _endpoints(world: World) -> list[Endpoint]:
    endpoints = []
    for pattern in backoffice_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = inspect.unwrap(pattern.callback)
        source = inspect.getsource(view)
        route = str(pattern.pattern)
        url = "/" + ROUTE_PART.sub(
            lambda m, name=pattern.name: world.url_value(name, m.group(2)), route
        )
        if "require_POST" in source:
            methods = {"POST"}
        elif "require_GET" in source:
            methods = {"GET"}
        else:
            methods = {"GET", "POST"}
        endpoint = Endpoint(name=pattern.name, url=url, methods=methods)
        endpoint.get_params = set(GET_PARAM.findall(source)) | {"page"}
        for form_name, method in BOUND_FORM.findall(source):
            form_class = view.__globals__[form_name]
            if method == "GET":
                endpoint.get_params |= set(form_class.base_fields)
            else:
                for name, form_field in form_class.base_fields.items():
                    endpoint.post_valid[name] = _valid_form_value(name, form_field, world)
        if "POST" in methods:
            for is_template, name in POST_PARAM.findall(source):
                if is_template:
                    prefix = name.split("_{", 1)[0]
                    ids = (
                        world.return_line_ids
                        if pattern.name == "return_receive"
                        else [1, 2]  # order line numbers
                    )
                    for pk in ids:
                        endpoint.post_valid[f"{prefix}_{pk}"] = RAW_VALID[prefix]
                elif name == "order_ids":
                    endpoint.post_valid[name] = str(world.order.pk)
                else:
                    endpoint.post_valid[name] = RAW_VALID.get(name, "x")
        endpoints.append(endpoint)
    # The ops form the admin adds (receiving by barcode).
    endpoints.append(
        Endpoint(
            name="admin_inbound_receive",
            url=f"/admin/inventory/inboundshipment/{world.inbound_id}/receive/",
            methods={"GET", "POST"},
            post_valid={
                name: _valid_form_value(name, f, world)
                for name, f in ReceiveForm.base_fields.items()
            }
            | {"code": world.sku},
        )
    )
    return endpoints


def _url_fuzz(world: World) -> list[tuple[str, str]]:
    """(method, URL): every back-office URL with one part replaced by each bad value."""
    urls = []
    for pattern in backoffice_urls.urlpatterns:
        route = str(pattern.pattern)
        source = inspect.getsource(inspect.unwrap(pattern.callback))
        method = "post" if "require_POST" in source else "get"
        parts = ROUTE_PART.findall(route)
        for index in range(len(parts)):
            for bad in BAD_VALUES.values():
                counter = iter(range(len(parts)))

                def fill(match, index=index, bad=bad, counter=counter, name=pattern.name):
                    if next(counter) == index:
                        return bad.replace("\x00", "%00")
                    return world.url_value(name, match.group(2))

                urls.append((method, "/" + ROUTE_PART.sub(fill, route)))
    return urls


def _check(failures: list[str], response, what: str) -> None:
    if response.status_code >= 500:
        failures.append(f"{response.status_code} {what}")


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _short(value: str) -> str:
    return value if len(value) < 20 else f"{value[:8]}…({len(value)} chars)"


@pytest.mark.parametrize("role", ["superuser", "agent", "warehouse_user", "manager"])
def test_bad_query_parameters_and_form_values_are_never_a_server_error(request, world, role):
    user = request.getfixturevalue(role)
    client = _client(user)
    one_at_a_time = role == "superuser"
    failures: list[str] = []
    endpoints = _endpoints(world)
    posted = {e.name for e in endpoints if "POST" in e.methods}
    assert posted >= {"stock_adjust", "stock_count", "inbound_receive", "admin_inbound_receive"}
    # A role reaches the same forms as the superuser (or a 403): fewer values suffice.
    values = BAD_VALUES if one_at_a_time else {k: BAD_VALUES[k] for k in ROLE_VALUES}
    for endpoint in endpoints:
        for label, bad in values.items():
            if "GET" in endpoint.methods:
                params = sorted(endpoint.get_params)
                tries = (
                    [{p: bad} for p in params] if one_at_a_time else [dict.fromkeys(params, bad)]
                )
                for query in tries:
                    response = client.get(endpoint.url, query)
                    _check(failures, response, f"GET {endpoint.url}?{'&'.join(query)}={label}")
            if "POST" in endpoint.methods:
                fields = sorted(endpoint.post_valid)
                if one_at_a_time:
                    tries = [endpoint.post_valid | {name: bad} for name in fields]
                else:
                    tries = [dict.fromkeys(fields, bad)]
                for data in tries:
                    bad_fields = [name for name in fields if data[name] == bad]
                    response = client.post(endpoint.url, data)
                    _check(failures, response, f"POST {endpoint.url} {bad_fields}={label}")
    assert not failures, "\n".join(failures)


def test_bad_url_parts_are_never_a_server_error(world, superuser):
    client = _client(superuser)
    failures: list[str] = []
    for method, url in _url_fuzz(world):
        response = getattr(client, method)(url)
        _check(failures, response, f"{method.upper()} {_short(url)}")
    assert not failures, "\n".join(failures)


def test_bad_admin_query_parameters_are_never_a_server_error(world, superuser):
    client = _client(superuser)
    failures: list[str] = []
    # The search term reaches the database (custom searches too); page number and ordering
    # are parsed before anything runs, so they share a request. Fewer values than for the
    # back office: each is one request per changelist, and the rest is Django's own code.
    tries = {label: {"q": BAD_VALUES[label]} for label in ("nul", "long", "over_range")} | {
        "page_and_order": {"p": BAD_VALUES["long"], "o": BAD_VALUES["over_range"]}
    }
    for model in admin.site._registry:
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for label, params in tries.items():
            response = client.get(changelist, params)
            _check(failures, response, f"GET {changelist} {label}")
    assert not failures, "\n".join(failures)
