from collections.abc import Iterable

from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True, db_index=False)

    class Meta:
        abstract = True


def related_objects_set(
    instance: models.Model, related_name: str, objects: Iterable[models.Model]
) -> None:
    """Make `instance.<related_name>.all()` return `objects` without a query.

    For a service that has just written the related rows and holds them: the same
    cache `prefetch_related` fills, so readers (and further prefetches) use it.
    Only for a reverse foreign key, and only with *every* related row.
    """
    manager = getattr(instance, related_name)
    queryset = manager.all()  # lazy: no query
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    # The instance's own dict: the stubs do not declare Django's private prefetch cache.
    cache = vars(instance).setdefault("_prefetched_objects_cache", {})
    cache[manager.field.remote_field.cache_name] = queryset


def column_range(model: type[models.Model], field_name: str) -> tuple[int, int]:
    """The smallest and largest value the integer column `model.field_name` can hold.

    Beyond it Postgres fails the statement ("integer out of range"): forms and
    services check against this instead (core/forms.py).
    """
    from django.db import connection

    field = model._meta.get_field(field_name)
    low, high = connection.ops.integer_field_range(field.get_internal_type())
    return int(low), int(high)
