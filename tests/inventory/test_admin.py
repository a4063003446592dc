import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Allocation, Product, StockLevel, StockMovement
from tests.fixtures.admin_book import (
    BOOK_ROWS,
    QUERY_BUDGET,
    admin_models,
    admin_url,
    full_table_counts,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


MODELS = admin_models("inventory")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_stays_within_query_budget(
    admin_book, staff_client, django_assert_max_num_queries, model
):
    with django_assert_max_num_queries(QUERY_BUDGET):
        response = staff_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count > 0


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_never_counts_the_whole_table(admin_book, staff_client, model):
    with CaptureQueriesContext(connection) as captured:
        staff_client.get(admin_url(model, "changelist"))
        staff_client.get(admin_url(model, "changelist"), {"q": "TSH-M-BLK"})
    assert full_table_counts(captured.captured_queries) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_page_loads(admin_book, staff_client, model):
    obj = model.objects.order_by("pk").first()
    response = staff_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200


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
