"""What orders needs from the layers above it, as ports they fill at startup.

orders may not import routing (docs/architecture.md); allocation asks it where an
order ships from through the port below, which routing fills in its AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from core.hooks import Port

if TYPE_CHECKING:
    from orders.models import Order
    from orders.services.allocation_policy import AllocationLine, Plan


class Router(Protocol):
    def route(
        self,
        *,
        order: Order,
        lines: Sequence[AllocationLine],
        needs: Mapping[int, int],
        sites: Sequence[tuple[int, str]],
        available: Mapping[tuple[int, int], int],
    ) -> Plan:
        """Where the order's missing units (`needs`: product id -> units) are reserved.

        `sites`: the channel's eligible active warehouses in priority order (id, code);
        `available`: units available per (product id, warehouse id), as the stock engine
        locked them. Pure in effect: reads cached routing tables, writes nothing; the
        plan's `routing` explains the choice. Called under the order's row lock, in
        the allocation's transaction.
        """
        ...


router: Port[Router] = Port("orders.router")
