"""Read-side queries of the back-office screens, one module per area.

Views use `from backoffice import selectors` and `selectors.<name>`.
"""

from backoffice.selectors._common import COUNT_CAP, capped_count, count_label
from backoffice.selectors.desk import (
    SEARCH_LIMIT,
    MatchKind,
    SearchHit,
    TimelineEntry,
    desk_search,
    desk_search_lookups,
    order_for_desk,
    order_timeline,
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
    "DASHBOARD_EXCEPTION_STATUSES",
    "DEFAULT_TRANSIT_HOURS",
    "DISPATCH_BOARD_COLUMNS",
    "EXCEPTION_KINDS",
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
    "hold_owner_candidates",
    "inbound_lines_with_stock",
    "inbounds_open",
    "late_shipments",
    "order_for_desk",
    "order_timeline",
    "stock_levels_list",
    "stock_movements_for",
]
