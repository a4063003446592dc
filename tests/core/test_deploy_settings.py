import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _check(*args: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("CONSIGN_SECRETS_KEY", None)
    env.update(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=secrets.token_urlsafe(64), **env_vars)
    return subprocess.run(  # noqa: S603 - fixed argv, options from this module only
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_with_production_settings():
    result = _check(
        "--deploy", "--fail-level", "WARNING", CONSIGN_SECRETS_KEY=Fernet.generate_key().decode()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secrets_key():
    result = _check()
    assert result.returncode != 0
    assert "core.E101" in result.stderr


def test_deploy_check_refuses_the_public_development_secrets_key():
    from config.env import DEVELOPMENT_SECRETS_KEY

    result = _check("--deploy", CONSIGN_SECRETS_KEY=DEVELOPMENT_SECRETS_KEY)
    assert result.returncode != 0
    assert "core.E103" in result.stderr
    assert DEVELOPMENT_SECRETS_KEY not in result.stdout + result.stderr


def test_a_malformed_secrets_key_is_refused_without_echoing_it():
    result = _check(CONSIGN_SECRETS_KEY="not-a-fernet-key-but-maybe-a-secret")
    assert result.returncode != 0
    assert "core.E102" in result.stderr
    assert "not-a-fernet-key-but-maybe-a-secret" not in result.stdout + result.stderr


def test_celery_is_configured_for_at_least_once_delivery():
    from config.celery import app

    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] >= 3600
    assert (
        conf.result_backend_transport_options["visibility_timeout"]
        == conf.broker_transport_options["visibility_timeout"]
    )


def _longest_countdown_seconds() -> float:
    """Every countdown the code schedules, at its configured maximum."""
    from django.conf import settings

    return max(
        settings.DISPATCH_RETRY_MAX_SECONDS,  # dispatch_shipment_task
        settings.PARTNER_WEBHOOK_RETRY_MAX_SECONDS,  # partner_webhook_send_task
        60,  # tracking_process_webhook_task: min(2**retries, 60)
    )


def test_visibility_timeout_outlasts_every_countdown():
    from config.celery import app

    assert app.conf.broker_transport_options["visibility_timeout"] > _longest_countdown_seconds()


def test_visibility_timeout_is_the_same_in_every_transport_option():
    from django.conf import settings

    from config.celery import app

    values = {
        app.conf.broker_transport_options["visibility_timeout"],
        app.conf.result_backend_transport_options["visibility_timeout"],
        settings.CELERY_VISIBILITY_TIMEOUT_SECONDS,
    }
    assert len(values) == 1


def test_backoff_never_exceeds_its_cap():
    from logistics.services.dispatch import backoff_seconds

    for attempt in range(1, 40):
        assert backoff_seconds(attempt=attempt, base=5.0, cap=3600) <= 3600


def test_every_registered_task_acks_late_and_caps_redeliveries():
    from config.celery import app
    from core.tasks import GuardedTask

    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert ours, "no project tasks were registered"
    for name, task in ours.items():
        assert isinstance(task, GuardedTask), name
        assert task.acks_late is True, name
        assert task.reject_on_worker_lost is True, name


def test_worker_cancels_running_tasks_when_the_broker_connection_is_lost():
    from config.celery import app

    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is True
