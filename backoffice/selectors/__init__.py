"""Read-side queries of the back-office screens, one module per area.

Views use `from backoffice import selectors` and `selectors.<name>`.
"""

from backoffice.selectors._common import COUNT_CAP, capped_count, count_label
from backoffice.selectors.desk import (
    MY_HOLDS_LIMIT,
    RECENT_LIMIT,
    SEARCH_LIMIT,
    MatchKind,
    SearchHit,
    TimelineEntry,
    desk_search,
    desk_search_lookups,
    holds_active_placed_by,
    order_for_desk,
    order_timeline,
    orders_recent,
)
from backoffice.selectors.ops import (
    DEFAULT_TRANSIT_HOURS,
    EXCEPTION_KINDS,
    BulkSelection,
    ExceptionItem,
    bulk_entries_split,
    bulk_numbers_resolve,
    bulk_status_resolve,
    dashboard_figures,
    dashboard_figures_cached,
    exception_queue,
    late_shipments,
)
from backoffice.selectors.warehouse import (
    DISPATCH_BOARD_COLUMNS,
    dispatch_board,
    inbound_lines_with_stock,
    inbounds_open,
    stock_levels_list,
    stock_movements_for,
)

__all__ = [
    "COUNT_CAP",
    "DEFAULT_TRANSIT_HOURS",
    "DISPATCH_BOARD_COLUMNS",
    "EXCEPTION_KINDS",
    "MY_HOLDS_LIMIT",
    "RECENT_LIMIT",
    "SEARCH_LIMIT",
    "BulkSelection",
    "ExceptionItem",
    "MatchKind",
    "SearchHit",
    "TimelineEntry",
    "bulk_entries_split",
    "bulk_numbers_resolve",
    "bulk_status_resolve",
    "capped_count",
    "count_label",
    "dashboard_figures",
    "dashboard_figures_cached",
    "desk_search",
    "desk_search_lookups",
    "dispatch_board",
    "exception_queue",
    "holds_active_placed_by",
    "inbound_lines_with_stock",
    "inbounds_open",
    "late_shipments",
    "order_for_desk",
    "order_timeline",
    "orders_recent",
    "stock_levels_list",
    "stock_movements_for",
]
