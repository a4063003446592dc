"""The EU customs union as the data migration seeds it.

Transactional tests flush the database (migration data included), so tests that
rely on the union make sure it is there.
"""

from __future__ import annotations

import importlib

from logistics.models import CustomsUnion, CustomsUnionMember


def customs_union_eu() -> CustomsUnion:
    migration = importlib.import_module("logistics.migrations.0007_customs_union_eu")
    union, _ = CustomsUnion.objects.get_or_create(
        code="eu", defaults={"name": "European Union Customs Union"}
    )
    for country in migration.EU_MEMBERS.split():
        CustomsUnionMember.objects.get_or_create(union=union, country=country)
    return union
