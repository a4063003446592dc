"""The stock journal: the writing transaction's id on every ledger row, and its indexes.

Written for a live ledger of millions of rows. The column is added without a default and
the default set in the same transaction, so Postgres rewrites nothing (a volatile default
in ADD COLUMN would fill, and lock, every existing row; older rows stay NULL and are
older than any cursor). The indexes are built concurrently, intake keeps writing.
"""

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

import inventory.models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inventory", "0008_inbound_asn_constraints"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="stockmovement",
                    name="xid",
                    field=inventory.models.TransactionIdField(
                        db_default=models.Func(function="pg_current_xact_id"),
                        editable=False,
                        null=True,
                    ),
                ),
            ],
            database_operations=[
                # One transaction: no row can be written between the two statements
                # without a default (it would be missing from the journal).
                migrations.RunSQL(
                    sql=(
                        "BEGIN;"
                        " ALTER TABLE inventory_stockmovement ADD COLUMN xid xid8 NULL;"
                        " ALTER TABLE inventory_stockmovement"
                        " ALTER COLUMN xid SET DEFAULT pg_current_xact_id();"
                        " COMMIT;"
                    ),
                    reverse_sql="ALTER TABLE inventory_stockmovement DROP COLUMN xid",
                ),
            ],
        ),
        AddIndexConcurrently(
            model_name="stockmovement",
            index=models.Index(fields=["xid"], name="stockmovement_xid"),
        ),
        AddIndexConcurrently(
            model_name="stockmovement",
            index=django.contrib.postgres.indexes.BrinIndex(
                fields=["created_at"], name="stockmovement_created_brin", autosummarize=True
            ),
        ),
    ]
