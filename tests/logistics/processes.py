"""Real processes for integration tests: the LSP sandbox, Celery worker(s) and beat.

They run against the pytest test database (transaction=True tests, so they see
committed data) and the Redis named by REDIS_URL; the sandbox posts its webhooks to
the live_server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

# Fast, test-sized timings for every process (workers, beat, and this test process).
FAST_ENV = {
    "DISPATCH_RETRY_BASE_SECONDS": "0.2",
    "DISPATCH_RETRY_MAX_SECONDS": "2",
    "DISPATCH_MAX_ATTEMPTS": "15",
    "LOGISTICS_ACK_TIMEOUT_SECONDS": "3",
    "TRACKING_SAFETY_POLL_SECONDS": "3",
    "TRACKING_POLL_SECONDS": "2",
    "TRACKING_POLL_MAX_SECONDS": "10",
    "LOGISTICS_SWEEP_SECONDS": "1",
    "LSP_HTTP_TIMEOUT_SECONDS": "5",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def purge_queues() -> None:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("dispatch", "tracking", "default", "unacked", "unacked_index")


@dataclass
class Processes:
    tmp: Path
    env: dict[str, str]
    sandbox_url: str = ""
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    started: int = 0

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        self.started += 1
        log = open(self.tmp / f"{name}-{self.started}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(  # noqa: S603
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: SIGKILL reaches pool children
        )
        self.procs[name] = proc
        return proc

    def start_sandbox(
        self,
        *,
        consign_url: str,
        secret: str,
        flags: list[str],
        state: Path | None = None,
        port: int | None = None,
    ) -> str:
        """Start the sandbox; by default with a fresh state file of this test's own.

        Pass the `state` (and `port`) of an earlier start to restart the same sandbox.
        """
        port = port or free_port()
        state = state or self.tmp / f"sandbox-{port}.sqlite3"
        self._spawn(
            "sandbox",
            [
                sys.executable,
                "manage.py",
                "run_lsp_sandbox",
                "--port",
                str(port),
                "--consign-url",
                consign_url,
                "--webhook-secret",
                secret,
                "--provider-code",
                "sandbox",
                "--state",
                str(state),
                *flags,
            ],
        )
        self.sandbox_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.sandbox_url + "/health", timeout=1).status_code == 200:
                    return self.sandbox_url
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("sandbox did not start: " + self.logs())

    def start_worker(self, concurrency: int = 4) -> subprocess.Popen:
        return self._spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "dispatch,tracking,default",
                "--concurrency",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
                "--hostname",
                f"test-worker-{self.started}@%h",
            ],
        )

    def start_beat(self) -> subprocess.Popen:
        return self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(self.tmp / "beat-schedule"),
            ],
        )

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            try:
                # The main process only: a Celery worker then stops its pool itself.
                proc.terminate()
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def logs(self, lines: int = 40) -> str:
        out = []
        for path in sorted(self.tmp.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


@contextlib.contextmanager
def processes_for_test(tmp: Path, env: dict[str, str] | None = None):
    """Processes for one integration test, stopped afterwards, with clean queues.

    The live server's request threads keep persistent connections otherwise, and the
    test database could not be dropped at the end of the session.
    """
    from django.db import connections

    db_settings = connections.settings["default"]
    old_max_age = db_settings["CONN_MAX_AGE"]
    db_settings["CONN_MAX_AGE"] = 0
    purge_queues()
    processes = Processes(tmp=tmp, env=env or make_env())
    try:
        yield processes
    finally:
        processes.stop_all()
        purge_queues()
        db_settings["CONN_MAX_AGE"] = old_max_age


def make_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(FAST_ENV)
    env["DATABASE_URL"] = test_database_url()
    env["REDIS_URL"] = settings.REDIS_URL
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["CELERY_RESULT_BACKEND"] = settings.CELERY_RESULT_BACKEND
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env
