"""Inventory-specific domain error types (codes live in inventory/error_codes.py)."""

from core.errors import Conflict


class InsufficientStock(Conflict):
    title = "Insufficient stock"
    code = "insufficient_stock"


class StockLevelLocked(Conflict):
    title = "Stock level locked by a count"
    code = "stock_level_locked"
