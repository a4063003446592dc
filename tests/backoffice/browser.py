"""Fixtures for the Playwright tests: headless Debian Chromium and a real Celery worker."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "pw-test-123!"


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM
    # calls are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(
        timezone_id="Europe/Amsterdam", locale="en-GB", viewport={"width": 1366, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def handheld_page(chromium):
    """A phone-sized warehouse handheld (issue 16 item 11: 390 x 844, touch)."""
    context = chromium.new_context(
        timezone_id="Europe/Amsterdam",
        locale="en-GB",
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, base_url: str, username: str, next_url: str) -> None:
    page.goto(f"{base_url}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_url}*")


@pytest.fixture
def celery_worker(transactional_db, monkeypatch):
    """A real `celery worker` process for the back-office bulk jobs (see celery_worker_for)."""
    from backoffice.tasks import bulk_job_run_task

    with celery_worker_for(monkeypatch, bulk_job_run_task) as proc:
        yield proc


@contextlib.contextmanager
def celery_worker_for(monkeypatch, *tasks):
    """A real `celery worker` process on the test database and this run's Redis.

    `tasks` are sent to a queue of their own for the test, so another worker that
    happens to consume `default` on the same Redis database (a developer's, another
    test run's) cannot take the messages to its database.
    """
    import uuid

    from django.conf import settings
    from django.db import connection

    queue = f"backoffice-test-{uuid.uuid4().hex[:12]}"
    for task in tasks:
        # A task's own `queue` attribute takes precedence over CELERY_TASK_ROUTES.
        monkeypatch.setattr(task, "queue", queue, raising=False)
        # Celery caches a task's routing options at its first apply_async: without this,
        # a second test in the process would send to the first test's (gone) queue.
        monkeypatch.setattr(task, "_exec_options", None, raising=False)

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # Files a test uploads (to a MEDIA_ROOT of its own) are read by the worker.
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "celery-worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                celery,
                "-A",
                "config",
                "worker",
                "-Q",
                queue,
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"backoffice-test-{os.getpid()}@%h",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker exited: {log.read_text()[-2000:]}")
            if "ready." in log.read_text():
                break
            time.sleep(0.3)
        else:
            proc.terminate()
            raise RuntimeError("celery worker did not become ready in 60 s")
        yield proc
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
