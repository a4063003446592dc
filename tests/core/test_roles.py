import pytest
from django.contrib.auth.models import Group

from core import roles


@pytest.mark.django_db
def test_roles_sync_creates_every_role_with_exactly_its_permissions():
    groups = roles.roles_sync()
    assert set(groups) == {roles.WAREHOUSE, roles.CUSTOMER_SERVICE, roles.OPERATIONS_MANAGER}
    for role, names in roles.ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        held = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        assert held == set(names)


@pytest.mark.django_db
def test_customer_service_cannot_touch_stock(agent):
    assert agent.has_perm("orders.cancel_order")
    assert agent.has_perm("orders.place_hold")
    assert not agent.has_perm("inventory.adjust_stock")
    assert not agent.has_perm("inventory.receive_stock")
    assert not agent.has_perm("inventory.change_stocklevel")


@pytest.mark.django_db
def test_warehouse_cannot_cancel_orders(warehouse_user):
    assert warehouse_user.has_perm("inventory.receive_stock")
    assert warehouse_user.has_perm("inventory.adjust_stock")
    assert warehouse_user.has_perm("logistics.retry_dispatch")
    assert not warehouse_user.has_perm("orders.cancel_order")
    assert not warehouse_user.has_perm("orders.change_shipping_address")


@pytest.mark.django_db
def test_operations_manager_holds_both_sides_and_dashboards(manager):
    for perm in (
        "orders.cancel_order",
        "inventory.adjust_stock",
        "logistics.retry_dispatch",
        "orders.view_dashboard",
        "inventory.accept_reconciliation",
    ):
        assert manager.has_perm(perm), perm


@pytest.mark.django_db
def test_only_the_operations_manager_reroutes_a_dispatch(manager, warehouse_user, agent):
    assert manager.has_perm("logistics.reroute_dispatch")
    assert not warehouse_user.has_perm("logistics.reroute_dispatch")
    assert not agent.has_perm("logistics.reroute_dispatch")
