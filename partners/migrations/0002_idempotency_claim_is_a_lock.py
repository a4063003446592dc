"""Idempotency records are written complete, in the request's own transaction.

A request in flight now holds its key with a transaction-level advisory lock
(partners.services.idempotency_claim) instead of an `in_flight` row, so the
state and lock columns go. Rows still in flight at migration time belong to
requests that can no longer complete them: they are dropped, which frees their
keys as the old lock timeout would have.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            "DELETE FROM partners_idempotencyrecord WHERE state = 'in_flight'; "
            "UPDATE partners_idempotencyrecord SET completed_at = created_at "
            "WHERE completed_at IS NULL;",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RemoveConstraint(
            model_name="idempotencyrecord",
            name="idempotency_completed_has_response",
        ),
        migrations.RemoveField(model_name="idempotencyrecord", name="locked_at"),
        migrations.RemoveField(model_name="idempotencyrecord", name="state"),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response_status",
            field=models.PositiveSmallIntegerField(),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="completed_at",
            field=models.DateTimeField(),
        ),
    ]
