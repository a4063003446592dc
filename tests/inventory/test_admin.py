import pytest

from inventory.models import Allocation, Product, StockLevel, StockMovement
from tests.fixtures.admin_book import (
    BOOK_ROWS,
    admin_url,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def test_stock_book_has_the_rows_the_budget_is_proven_with(admin_book):
    for model in (StockLevel, StockMovement, Allocation):
        assert model.objects.count() >= BOOK_ROWS


def test_stock_levels_cannot_be_changed_through_the_admin(admin_book, staff_client):
    level = StockLevel.objects.order_by("pk").first()
    response = staff_client.post(
        admin_url(StockLevel, "change", level.pk),
        {"on_hand": level.on_hand + 1000, "reserved": 0, "low_stock_threshold": 0},
    )
    assert response.status_code == 403
    fresh = StockLevel.objects.get(pk=level.pk)
    assert (fresh.on_hand, fresh.reserved) == (level.on_hand, level.reserved)
    assert staff_client.get(admin_url(StockLevel, "add")).status_code == 403


def test_stock_level_page_shows_its_ledger_read_only(admin_book, staff_client):
    level = StockLevel.objects.filter(reserved__gt=0).first()
    response = staff_client.get(admin_url(StockLevel, "change", level.pk))
    body = response.content.decode()
    assert "Recent stock movements" in body
    assert "Reservation" in body
    assert 'name="_save"' not in body


def test_ledger_rows_cannot_be_deleted_or_edited(admin_book, staff_client):
    movement = StockMovement.objects.order_by("pk").first()
    delete = staff_client.post(admin_url(StockMovement, "delete", movement.pk), {"post": "yes"})
    assert delete.status_code == 403
    change = staff_client.post(
        admin_url(StockMovement, "change", movement.pk), {"on_hand_delta": 5}
    )
    assert change.status_code == 403
    assert StockMovement.objects.get(pk=movement.pk).on_hand_delta == movement.on_hand_delta


def test_products_stay_editable_by_staff(admin_book, staff_client):
    product = Product.objects.order_by("pk").first()
    response = staff_client.get(admin_url(Product, "change", product.pk))
    assert 'name="_save"' in response.content.decode()


def test_warehouse_user_sees_stock_levels_but_cannot_edit_them(admin_book, client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="warehouse"))
    level = StockLevel.objects.order_by("pk").first()
    assert client.get(admin_url(StockLevel, "changelist")).status_code == 200
    page = client.get(admin_url(StockLevel, "change", level.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
