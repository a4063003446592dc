"""What inventory needs from the layers above it, as ports they fill at startup.

inventory (the stock engine) may not import orders (docs/architecture.md). Two stock
events need the order workflow's decisions; orders registers both implementations in
`OrdersConfig.ready()`:

- `restock`: stock became available for some products (a receipt, a release, a
  correction), so backordered orders may now be allocated. Called by
  `inventory.services.stock.backorders_enqueue_now`, after the stock change committed,
  outside any transaction.
- `stock_low`: levels just became low stock (a LowStockAlert was raised), so the
  channels selling from them hear of it (the stock.low partner event). Called by
  `inventory.services.stock` inside the transaction that changed the levels or their
  thresholds.
- `shortfall`: a count found fewer units than orders have reserved, so some orders
  must give reservations back. Called by `inventory.services.counts.stock_count_complete`
  inside its transaction, before the level is corrected; the implementation decides
  which orders lose the units, locks them (order rows first, the global lock order) and
  releases their allocations through `inventory.services.reservations`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from core.hooks import Port

if TYPE_CHECKING:
    from collections.abc import Sequence

    from core.users import ActingUser
    from inventory.models import StockLevel


class Restock(Protocol):
    def backorders_enqueue(self, *, product_ids: list[int]) -> None:
        """Ask for waiting orders needing these products to be allocated (asynchronously).

        May raise when the broker is down; the caller logs and carries on.
        """
        ...


class Shortfall(Protocol):
    def reservations_release_for_shortfall(
        self,
        *,
        product_id: int,
        warehouse_id: int,
        quantity: int,
        reason: str,
        user: ActingUser | None = None,
    ) -> int:
        """Un-reserve `quantity` units at one level; returns how many units were released."""
        ...


class StockLow(Protocol):
    def stock_levels_became_low(self, *, levels: Sequence[StockLevel]) -> None:
        """These levels (with their new quantities and threshold) are now low stock and
        were not before; their LowStockAlert rows are written.

        Called inside the transaction that changed them, with the levels locked; must
        not change stock. Reads what it needs (a query or two), writes what it sends.
        """
        ...


restock: Port[Restock] = Port("inventory.restock")
stock_low: Port[StockLow] = Port("inventory.stock_low")
shortfall: Port[Shortfall] = Port("inventory.shortfall")
