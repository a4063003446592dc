import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("consign")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic tasks of the partners app (purge Idempotency-Key records past retention).
app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "partners-idempotency-purge": {
        "task": "partners.tasks.idempotency_records_purge_task",
        "schedule": 3600.0,
    },
}
