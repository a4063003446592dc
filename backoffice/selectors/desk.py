"""Customer-service desk reads: the empty desk's recent orders and "my holds".

The desk search lives in orders.selectors; the order page in order_page.py.
"""

from __future__ import annotations

from orders.models import Hold, Order

RECENT_LIMIT = 20
MY_HOLDS_LIMIT = 50


def orders_recent(*, limit: int = RECENT_LIMIT) -> list[Order]:
    """The most recently placed orders, newest first: what the empty desk shows.

    One query, read from the end of the order_placed index.
    """
    return list(Order.objects.select_related("channel").order_by("-placed_at", "-id")[:limit])


def holds_active_placed_by(*, user, limit: int = MY_HOLDS_LIMIT) -> list[Hold]:
    """Holds `user` placed that are still active, newest first, with their orders.

    One query (index hold_active_placed_by); an anonymous user has none.
    """
    if not getattr(user, "is_authenticated", False):
        return []
    return list(
        Hold.objects.filter(placed_by=user, released_at__isnull=True)
        .select_related("order", "order__channel")
        .order_by("-created_at")[:limit]
    )
