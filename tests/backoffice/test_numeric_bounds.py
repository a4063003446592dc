"""Issue 16, item 3: a number no column can hold is a form error, and the user keeps it.

Before, `delta=99999999999` reached Postgres ("integer out of range"): a 500.
"""

import pytest
from django import forms
from django.test import Client

from backoffice import forms as backoffice_forms
from core.errors import ValidationFailed
from core.models import column_range
from inventory import admin_ops
from inventory.models import InboundLine, StockLevel, StockMovement
from inventory.services.receiving import inbound_receive
from inventory.services.stock import stock_adjust
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.inventory.helpers import asn

pytestmark = pytest.mark.django_db

INT_MAX = 2**31 - 1


@pytest.fixture
def client(superuser):
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    return client


@pytest.fixture
def inbound():
    warehouse = WarehouseFactory()
    ProductFactory(sku="SHIRT-M", barcode="5012345678900")
    return asn(warehouse=warehouse, reference="ASN-9", lines=[("SHIRT-M", 2)])


@pytest.mark.parametrize("delta", ["99999999999", "-99999999999", str(INT_MAX + 1)])
def test_adjustment_out_of_range_is_a_form_error_that_keeps_the_value(client, delta):
    level = StockLevelFactory(on_hand=10)
    response = client.post(
        f"/warehouse/stock/{level.pk}/adjust/", {"delta": delta, "reason": "damaged"}
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert f'value="{delta}"' in page
    assert "Ensure this value is" in page
    assert not StockMovement.objects.exists()
    level.refresh_from_db()
    assert level.on_hand == 10


def test_count_out_of_range_is_a_form_error_that_keeps_the_value(client):
    level = StockLevelFactory(on_hand=10)
    response = client.post(f"/warehouse/stock/{level.pk}/count/", {"counted": "99999999999"})
    assert response.status_code == 422
    page = response.content.decode()
    assert 'value="99999999999"' in page
    assert f"less than or equal to {INT_MAX}" in page
    level.refresh_from_db()
    assert level.on_hand == 10


def test_receiving_quantity_out_of_range_is_a_form_error_that_keeps_the_value(client, inbound):
    response = client.post(
        f"/warehouse/inbound/{inbound.pk}/receive/",
        {"barcode": "5012345678900", "quantity": "99999999999"},
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert 'value="99999999999"' in page
    assert 'value="5012345678900"' in page
    assert "less than or equal to" in page
    assert InboundLine.objects.get(inbound=inbound).received_quantity == 0


def test_admin_receiving_quantity_out_of_range_is_a_form_error(client, inbound):
    response = client.post(
        f"/admin/inventory/inboundshipment/{inbound.pk}/receive/",
        {"code": "SHIRT-M", "quantity": "99999999999"},
    )
    assert response.status_code == 200
    assert f"less than or equal to {INT_MAX}" in response.content.decode()
    assert InboundLine.objects.get(inbound=inbound).received_quantity == 0


def test_adjustment_that_would_overflow_on_hand_is_refused_with_a_message(client):
    level = StockLevelFactory(on_hand=10)
    response = client.post(
        f"/warehouse/stock/{level.pk}/adjust/",
        {"delta": str(INT_MAX), "reason": "found"},
        follow=True,
    )
    assert response.status_code == 200
    assert "more than a stock level can hold" in response.content.decode()
    level.refresh_from_db()
    assert level.on_hand == 10


def test_stock_service_refuses_on_hand_beyond_the_column():
    level = StockLevelFactory(on_hand=10)
    with pytest.raises(ValidationFailed, match="more than a stock level can hold"):
        stock_adjust(
            product=level.product, warehouse=level.warehouse, delta=INT_MAX, reason="found"
        )
    assert StockLevel.objects.get(pk=level.pk).on_hand == 10


def test_receiving_refuses_a_line_total_beyond_the_column(inbound):
    inbound_receive(inbound=inbound, code="SHIRT-M", quantity=INT_MAX - 5)
    with pytest.raises(ValidationFailed, match="more than a line can hold"):
        inbound_receive(inbound=inbound, code="SHIRT-M", quantity=10)
    assert InboundLine.objects.get(inbound=inbound).received_quantity == INT_MAX - 5


def _integer_fields():
    for module in (backoffice_forms, admin_ops):
        for form_class in vars(module).values():
            if isinstance(form_class, type) and issubclass(form_class, forms.BaseForm):
                for name, form_field in form_class.base_fields.items():
                    if isinstance(form_field, forms.IntegerField):
                        yield f"{form_class.__name__}.{name}", form_field


@pytest.mark.parametrize(("name", "form_field"), list(_integer_fields()))
def test_every_numeric_form_field_is_bounded_within_an_integer_column(name, form_field):
    # A field made by core.forms.column_integer_field knows its column (an id is a bigint);
    # any other is held to a Postgres integer.
    low, high = getattr(form_field, "column_range", column_range(StockMovement, "on_hand_delta"))
    assert form_field.min_value is not None, name
    assert form_field.max_value is not None, name
    assert low <= form_field.min_value <= form_field.max_value <= high, name


def test_form_bounds_are_those_of_the_columns():
    assert backoffice_forms.AdjustForm.base_fields["delta"].max_value == INT_MAX
    assert backoffice_forms.AdjustForm.base_fields["delta"].min_value == -(2**31)
    assert backoffice_forms.CountForm.base_fields["counted"].min_value == 0
    assert backoffice_forms.CountForm.base_fields["counted"].max_value == INT_MAX
