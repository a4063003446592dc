"""Read-side queries of the back-office screens, one module per area.

Views use `from backoffice import selectors` and `selectors.<name>`.
"""

from backoffice.selectors._common import COUNT_CAP, capped_count, count_label
from backoffice.selectors.desk import (
    MY_HOLDS_LIMIT,
    RECENT_LIMIT,
    holds_active_placed_by,
    orders_recent,
)
from backoffice.selectors.ops import (
    DASHBOARD_EXCEPTION_STATUSES,
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
    hold_owner_candidates,
    late_shipments,
)
from backoffice.selectors.order_page import (
    TIMELINE_KINDS,
    CustomerSummary,
    TimelineEntry,
    order_customer_summary,
    order_for_desk,
    order_timeline,
    routing_why,
    timeline_filter,
)
from backoffice.selectors.warehouse import (
    DISPATCH_BOARD_COLUMNS,
    STOCK_EXPORT_COLUMNS,
    dispatch_board,
    inbound_lines_with_stock,
    inbound_scan_outcome,
    inbounds_open,
    product_search_condition,
    stock_levels_export_rows,
    stock_levels_list,
    stock_movements_for,
)

# The search itself is an orders read (the admin's order search uses it too).
from orders.selectors import (
    SEARCH_LIMIT,
    MatchKind,
    SearchHit,
    desk_search,
    desk_search_lookups,
)

__all__ = [
    "COUNT_CAP",
    "DASHBOARD_EXCEPTION_STATUSES",
    "DEFAULT_TRANSIT_HOURS",
    "DISPATCH_BOARD_COLUMNS",
    "EXCEPTION_KINDS",
    "MY_HOLDS_LIMIT",
    "RECENT_LIMIT",
    "SEARCH_LIMIT",
    "STOCK_EXPORT_COLUMNS",
    "TIMELINE_KINDS",
    "BulkSelection",
    "CustomerSummary",
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
    "hold_owner_candidates",
    "holds_active_placed_by",
    "inbound_lines_with_stock",
    "inbound_scan_outcome",
    "inbounds_open",
    "late_shipments",
    "order_customer_summary",
    "order_for_desk",
    "order_timeline",
    "routing_why",
    "product_search_condition",
    "orders_recent",
    "stock_levels_export_rows",
    "stock_levels_list",
    "stock_movements_for",
    "timeline_filter",
]
