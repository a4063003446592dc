"""Read-side queries of picking: wave lists, a wave's pick path, the next task, short picks."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum

from logistics.models import PickTask, PickWave, Shipment


def waves_list(*, warehouse_id: int | None = None, status: str = "") -> QuerySet[PickWave]:
    """Waves newest first with `shipment_count`, `task_count`, `units` and `picked_units`:
    one query for any page."""
    waves = PickWave.objects.select_related("warehouse", "service_level").annotate(
        shipment_count=Count("tasks__shipment", distinct=True),
        task_count=Count("tasks", filter=~Q(tasks__status="cancelled")),
        units=Sum("tasks__quantity", filter=~Q(tasks__status="cancelled"), default=0),
        picked_units=Sum("tasks__picked_quantity", default=0),
    )
    if warehouse_id is not None:
        waves = waves.filter(warehouse_id=warehouse_id)
    if status:
        waves = waves.filter(status=status)
    return waves.order_by("-created_at", "-pk")


def wave_tasks(*, wave_id: int) -> list[PickTask]:
    """The wave's pick path (tasks by sequence) with bin, product, shipment and order: one
    query."""
    return list(
        PickTask.objects.filter(wave_id=wave_id)
        .select_related("bin", "product", "shipment__order", "shipment_line__order_line")
        .order_by("sequence")
    )


def shipment_pick_tasks(*, shipment_id: int) -> list[PickTask]:
    """One shipment's pick list (its tasks in path order): one query."""
    return list(
        PickTask.objects.filter(shipment_id=shipment_id)
        .exclude(status=PickTask.Status.CANCELLED)
        .select_related("bin", "product", "wave", "shipment__order")
        .order_by("bin__pick_sequence", "bin__code", "pk")
    )


@dataclass(frozen=True)
class PickProgress:
    done: int  # tasks no longer open
    total: int  # tasks not cancelled
    current: PickTask | None  # the next open task on the path

    @property
    def position(self) -> int:
        return min(self.done + 1, self.total)


def wave_progress(*, wave_id: int) -> PickProgress:
    """Where the picker is on the wave's path: two queries."""
    counts = PickTask.objects.filter(wave_id=wave_id).aggregate(
        total=Count("pk", filter=~Q(status="cancelled")),
        open=Count("pk", filter=Q(status="open")),
    )
    current = (
        PickTask.objects.filter(wave_id=wave_id, status=PickTask.Status.OPEN)
        .select_related("bin", "product", "wave", "shipment__order")
        .order_by("sequence")
        .first()
    )
    return PickProgress(
        done=counts["total"] - counts["open"], total=counts["total"], current=current
    )


# Short picks stay in the exception queue until their shipment is packed.
SHORT_PICK_SHIPMENT_STATUSES = (Shipment.Status.PICKING, Shipment.Status.PICKED)


def short_picks_open() -> QuerySet[PickTask]:
    """Short picks whose shipment is still at the picking stage (the exception queue)."""
    return PickTask.objects.filter(
        status=PickTask.Status.SHORT, shipment__status__in=SHORT_PICK_SHIPMENT_STATUSES
    )
