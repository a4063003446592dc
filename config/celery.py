import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task inherits the redelivery cap (core/tasks.py); the worker reconnects to the
# broker within BROKER_RECONNECT_MAX_SECONDS of its return (core/broker_reconnect.py).
app = Celery("consign", task_cls="core.tasks:GuardedTask", amqp="core.broker_reconnect:AMQP")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fix-up closes every database connection before and after each task
# unless CELERY_DB_REUSE_MAX is set: a new Postgres backend for every task (7 % of a
# dispatch's time; 28 -> 32 dispatches/s without it, docs/perf.md). With the limit out
# of reach, tasks reuse connections the way web requests do: at each task boundary
# Django closes only a connection that failed or outlived CONN_MAX_AGE, and
# CONN_HEALTH_CHECKS tests the survivor before the next task uses it (so a restarted
# Postgres is reconnected).
app.conf.update(CELERY_DB_REUSE_MAX=2**62)

# /readyz names a queue that no live worker consumes (core/worker_health.py).
app.steps["consumer"].add("core.worker_health:QueueHeartbeat")


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task=None, **kwargs):
    # Not around an eager task: it runs inside its caller's transaction.
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
