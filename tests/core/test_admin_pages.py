"""Every admin page of the domain apps: loads, stays within its query budget, never counts a table."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.fixtures.admin_book import QUERY_BUDGET, admin_models, admin_url, full_table_counts

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

# A search each app's lists are tried with: an identifier somebody would paste in.
SEARCH = {"orders": "CS-000001", "inventory": "TSH-M-BLK", "logistics": "CSX0000000001NL"}
MODELS = [model for app in SEARCH for model in admin_models(app)]


def _id(model) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


@pytest.mark.parametrize("model", MODELS, ids=_id)
def test_changelist_stays_within_query_budget(
    admin_book, staff_client, django_assert_max_num_queries, model
):
    with django_assert_max_num_queries(QUERY_BUDGET):
        response = staff_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count > 0


@pytest.mark.parametrize("model", MODELS, ids=_id)
def test_changelist_never_counts_the_whole_table(admin_book, staff_client, model):
    search = SEARCH[model._meta.app_label]
    with CaptureQueriesContext(connection) as captured:
        staff_client.get(admin_url(model, "changelist"))
        staff_client.get(admin_url(model, "changelist"), {"q": search})
    assert full_table_counts(captured.captured_queries) == []


@pytest.mark.parametrize("model", MODELS, ids=_id)
def test_change_page_loads(admin_book, staff_client, model):
    obj = model.objects.order_by("pk").first()
    response = staff_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
