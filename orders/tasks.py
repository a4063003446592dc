"""Orders worker tasks: thin wrappers over services, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def backorders_allocate_task(*, product_ids: list[int] | None = None) -> int:
    """Allocate waiting (backordered) orders that need these products; returns orders touched."""
    from orders.services.allocation import backorders_allocate

    return backorders_allocate(product_ids=product_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def backorders_sweep_task() -> int:
    """Periodic safety net: retry every backordered order (an enqueue may have been lost)."""
    from orders.services.allocation import backorders_allocate

    return backorders_allocate(product_ids=None)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def stock_changed_publish_task() -> int:
    """Every PARTNER_WEBHOOK_STOCK_WINDOW_SECONDS: one stock.changed per channel whose SKUs
    changed in the window (beat); returns the events published."""
    from orders.services.stock_events import stock_changed_publish

    return stock_changed_publish()
