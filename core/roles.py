"""Staff roles as Django groups, and the permissions each one holds.

The mapping is code so that it is reviewed like code; `roles_sync` makes the
database match it (it runs after every migrate, and from seed_demo).
"""

import logging

from django.contrib.auth.models import Group, Permission
from django.db import transaction

logger = logging.getLogger(__name__)

WAREHOUSE = "warehouse"
CUSTOMER_SERVICE = "customer_service"
OPERATIONS_MANAGER = "operations_manager"

_READ_ORDERS = [
    "orders.view_channel",
    "orders.view_order",
    "orders.view_orderline",
    "orders.view_orderevent",
    "orders.view_hold",
    "logistics.view_shipment",
    "logistics.view_shipmentline",
    "logistics.view_parcel",
    "logistics.view_trackingevent",
    "logistics.view_provider",
    "logistics.view_servicelevel",
]
# Customer service and operations talk to customers; the warehouse needs the order, its
# lines and the shipping address, not the customer's e-mail or phone (issue 16 item 7).
_CUSTOMER_CONTACT = ["orders.view_customer_contact"]
_ORDER_ACTIONS = [
    "orders.add_hold",
    "orders.change_hold",
    "orders.place_hold",
    "orders.release_hold",
    "orders.cancel_order",
    "orders.change_shipping_address",
    "orders.add_order_note",
]
_READ_STOCK = [
    "inventory.view_product",
    "inventory.view_warehouse",
    "inventory.view_stocklevel",
    "inventory.view_stockmovement",
    "inventory.view_allocation",
    "inventory.view_inboundshipment",
    "inventory.view_inboundline",
    "inventory.view_stockcount",
    "inventory.view_lowstockalert",
    "inventory.view_stocksnapshot",
    "inventory.view_importjob",
    "inventory.view_bin",
    "inventory.view_binstock",
]
_STOCK_ACTIONS = [
    "inventory.add_product",
    "inventory.change_product",
    "inventory.change_stocklevel",
    "inventory.receive_stock",
    "inventory.adjust_stock",
    "inventory.count_stock",
    "inventory.transfer_stock",
    "inventory.move_bin_stock",
]
_DISPATCH_ACTIONS = ["logistics.retry_dispatch"]
# Pick waves at own sites: build them, pick them (the handheld), print pick lists.
_PICKING = ["logistics.view_pickwave", "logistics.pick_wave"]
# The pack station: verify, box, weigh, buy and print labels, void, hand to the carrier.
_PACKING = ["logistics.view_box", "logistics.pack_shipment"]
_RETURN_REQUEST = ["returns.view_returnrequest", "returns.request_return"]
_RETURN_RECEIVE = ["returns.view_returnrequest", "returns.receive_return"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CUSTOMER_SERVICE: _READ_ORDERS
    + _CUSTOMER_CONTACT
    + _ORDER_ACTIONS
    + ["inventory.view_product"]
    + _RETURN_REQUEST,
    WAREHOUSE: _READ_STOCK
    + _STOCK_ACTIONS
    + _DISPATCH_ACTIONS
    + _PICKING
    + _PACKING
    + _READ_ORDERS
    + _RETURN_RECEIVE,
    OPERATIONS_MANAGER: sorted(
        set(
            _READ_ORDERS
            + _CUSTOMER_CONTACT
            + _ORDER_ACTIONS
            + _READ_STOCK
            + _STOCK_ACTIONS
            + _DISPATCH_ACTIONS
            + _PICKING
            + _PACKING
            + _RETURN_REQUEST
            + _RETURN_RECEIVE
            + [
                "orders.view_dashboard",
                "orders.change_channel",
                "inventory.accept_reconciliation",
                "logistics.change_provider",
                "logistics.change_servicelevel",
                # Partners' webhook endpoints: see them, enable a disabled one again.
                "logistics.view_webhookendpoint",
                "logistics.change_webhookendpoint",
                # Choosing another provider changes cost and contract: not a shift task.
                "logistics.reroute_dispatch",
                # Re-routing an order releases its stock and routes it again: the same.
                "orders.reroute_order",
                # What LSPs charge: the contract is the manager's.
                "economics.view_ratecard",
                "economics.add_ratecard",
                "economics.change_ratecard",
                "economics.activate_ratecard",
                "economics.view_expected_cost",
                "economics.view_repricingjob",
                "economics.view_invoice",
                "economics.add_invoice",
                "economics.view_dispute",
                "economics.decide_dispute",
                "economics.view_zone",
                "economics.add_zone",
                "economics.change_zone",
                "economics.delete_zone",
                "economics.view_chargerule",
                "economics.add_chargerule",
                "economics.change_chargerule",
                "economics.delete_chargerule",
                # Channel connectors and the CSV order import (docs/channels.md).
                "partners.view_channelconnector",
                "partners.change_channelconnector",
                "partners.view_connectorexception",
                "partners.change_connectorexception",
                "partners.view_orderimportjob",
                "partners.import_orders",
                # Routing rules (docs/routing.md): drafts, their rules, publishing, and
                # what an own site's handling costs. Rule sets are never deleted from the
                # screens; the admin deletes drafts only.
                "routing.view_ruleset",
                "routing.add_ruleset",
                "routing.change_ruleset",
                "routing.delete_ruleset",
                "routing.publish_ruleset",
                "routing.view_rule",
                "routing.add_rule",
                "routing.change_rule",
                "routing.delete_rule",
                "routing.view_sitecost",
                "routing.add_sitecost",
                "routing.change_sitecost",
                # Routing what-if (docs/routing.md): simulate a rule set over past orders.
                "routing.view_whatifrun",
                "routing.add_whatifrun",
                "routing.delete_whatifrun",
            ]
        )
    ),
}


def _permission_ids(names: list[str]) -> list[int]:
    wanted: set[tuple[str, str]] = set()
    for name in names:
        app_label, codename = name.split(".", 1)
        wanted.add((app_label, codename))
    found = {
        (app_label, codename): pk
        for pk, app_label, codename in Permission.objects.filter(
            content_type__app_label__in={app for app, _ in wanted}
        ).values_list("pk", "content_type__app_label", "codename")
    }
    missing = sorted(f"{a}.{c}" for a, c in wanted - found.keys())
    if missing:
        raise LookupError(f"Role permissions that do not exist: {', '.join(missing)}")
    return [found[key] for key in wanted]


@transaction.atomic
def roles_sync() -> dict[str, Group]:
    """Create or update the role groups so their permissions are exactly ROLE_PERMISSIONS."""
    groups = {}
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(_permission_ids(names))
        groups[role] = group
    return groups


def roles_sync_after_migrate(sender: object, **kwargs: object) -> None:
    # A partial migrate (to an early migration) may not have every model yet;
    # that must not break migrate. tests/core/test_roles.py proves the full set exists.
    try:
        roles_sync()
    except LookupError as exc:
        logger.warning("Roles not synced: %s", exc)
