"""Failure drills against real processes, each drill on its OWN embedded Postgres and Redis
(own ports, own data directories under a temp dir), so that killing them harms nothing else.

    python scripts/drills.py redis     # Redis stopped for --outage seconds (default 60)
    python scripts/drills.py postgres  # Postgres restarted under load
    python scripts/drills.py all --report docs/drills/latest.md

Each drill starts gunicorn, a Celery worker, beat and the LSP sandbox, drives partner
order intake (with Idempotency-Key, retrying 503s as a partner would) while the sandbox
sends signed tracking webhooks, breaks one service, and then checks the promises:
the API answered throughout with 2xx or 503 problem+json (never a 500 or an HTML page),
/readyz named what was down, and afterwards every accepted order exists once and was
dispatched once, every stored webhook processed: 0 lost, 0 doubled. Exit status 1 if a
promise is broken.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import devservices  # noqa: E402  (same directory; reuses the embedded-service helpers)
import httpx  # noqa: E402
import psycopg  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

WEBHOOK_SECRET = "whsec_ZHJpbGwtc2VjcmV0LWRyaWxsLXNlY3JldA=="  # noqa: S105 - drill-only secret


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log(message: str) -> None:
    print(f"[drill {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Stack:
    """Postgres + Redis + web + worker + beat + sandbox, all private to one drill."""

    tmp: Path
    pg_port: int = field(default_factory=_free_port)
    redis_port: int = field(default_factory=_free_port)
    web_port: int = field(default_factory=_free_port)
    sandbox_port: int = field(default_factory=_free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    api_key: str = ""
    # The Procfile's shape; bench/soak.py --web compares others at the same load.
    web_args: tuple[str, ...] = ("--workers", "2", "--worker-class", "gthread", "--threads", "4")
    # The worker's and beat's log level (`--loglevel INFO` to see reconnects and restores).
    loglevel: str = "WARNING"

    @property
    def pg_data(self) -> Path:
        return self.tmp / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.tmp / "redis"

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/consign"

    def start(self) -> None:
        devservices.postgres_up(port=self.pg_port, data=self.pg_data, log=self.tmp / "pg.log")
        self.redis_up()
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg_port}/consign",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "CONSIGN_SECRETS_KEY": Fernet.generate_key().decode(),
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "OUTBOUND_ALLOW_HOSTS": f"127.0.0.1:{self.sandbox_port}",
            "API_THROTTLE_RATE": "1000000/minute",
            "LSP_SANDBOX_URL": f"http://127.0.0.1:{self.sandbox_port}",
            "LSP_SANDBOX_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CONSIGN_PUBLIC_URL": self.web,
            "LSP_SANDBOX_STEP_SECONDS": "3",
            "LOGISTICS_ACK_TIMEOUT_SECONDS": "5",
            "LOGISTICS_SWEEP_SECONDS": "2",
            "DISPATCH_RETRY_BASE_SECONDS": "0.5",
            "DISPATCH_RETRY_MAX_SECONDS": "5",
            "DISPATCH_MAX_ATTEMPTS": "50",
            "READYZ_TIMEOUT_SECONDS": "1",
            "LOG_LEVEL": "WARNING",
            "SECURITY_LOG_LEVEL": "WARNING",
        }
        self.manage("migrate", "-v0")
        # The demo world only (channels, products, stock, providers): no demo orders.
        self.manage("shell", "-c", "from demo import world; world.demo_world_ensure()")
        out = self.manage("create_api_key", "webshop", "--name", "drill")
        self.api_key = out.strip().splitlines()[-1]
        # The world already points `sandbox` at this run's LSP_SANDBOX_URL; its secret is
        # set through the service (stored encrypted), never by SQL.
        self.manage(
            "provider_secret_set", "sandbox", "webhook_secret", "--stdin", stdin=WEBHOOK_SECRET
        )
        self.spawn_all()

    def spawn_all(self) -> None:
        py = sys.executable
        self.spawn(
            "web",
            [
                py,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                *self.web_args,
                "--timeout",
                "60",
            ],
        )
        self.spawn(
            "worker",
            [
                py,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "dispatch,tracking,default",
                "--concurrency",
                "4",  # as in the Procfile
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                self.loglevel,
            ],
        )
        self.spawn(
            "beat",
            [
                py,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                self.loglevel,
                "--schedule",
                str(self.tmp / "beat-schedule"),
            ],
        )
        self.spawn(
            "sandbox",
            [
                py,
                "manage.py",
                "run_lsp_sandbox",
                "--port",
                str(self.sandbox_port),
                "--consign-url",
                self.web,
                "--webhook-secret",
                WEBHOOK_SECRET,
                "--provider-code",
                "sandbox",
                "--state",
                str(self.tmp / "sandbox.sqlite3"),
                "--seed",
                "7",
            ],
        )
        self.wait_http(self.web + "/healthz")
        self.wait_http(f"http://127.0.0.1:{self.sandbox_port}/health")

    def spawn(self, name: str, args: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.procs[name] = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def dead(self) -> dict[str, str]:
        """The drill's processes that exited, each with its exit code and last log lines."""
        found = {}
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is not None:
                tail = (self.tmp / f"{name}.log").read_text(errors="replace").splitlines()[-5:]
                found[name] = f"exited with code {code}: " + " | ".join(tail)[-600:]
        return found

    def manage(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def wait_http(self, url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise SystemExit(f"{url} did not come up")

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(query, params or [])
            return cur.fetchall() if cur.description else []

    def redis_up(self) -> None:
        devservices.redis_up(port=self.redis_port, directory=self.redis_dir)

    def redis_down(self) -> None:
        devservices.redis_down(port=self.redis_port, directory=self.redis_dir)

    def postgres_restart(self) -> None:
        subprocess.run(
            [devservices._pg_bin("pg_ctl"), "-D", str(self.pg_data), "-m", "fast", "-w", "restart"],
            check=True,
            stdout=subprocess.DEVNULL,
            **devservices._as_pg_user(),
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        self.redis_down()
        devservices.postgres_down(data=self.pg_data)


# --- load ---------------------------------------------------------------------------


@dataclass
class Load:
    """Partners posting orders; each order retried with its Idempotency-Key until answered."""

    stack: Stack
    skus: list[str]
    rate: float = 4.0
    stop: threading.Event = field(default_factory=threading.Event)
    accepted: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    readyz: list[tuple[float, int, dict]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def order_body(self, ref: str) -> dict:
        sku = self.skus[hash(ref) % len(self.skus)]
        return {
            "external_reference": ref,
            "currency": "EUR",
            "customer": {"email": f"{ref}@example.com", "name": "Drill Customer", "phone": ""},
            "shipping_address": {
                "name": "Drill Customer",
                "line1": "1 Drill Street",
                "line2": "",
                "city": "Amsterdam",
                "postcode": "1011 AB",
                "region": "",
                "country": "NL",
            },
            "lines": [{"sku": sku, "quantity": 1, "unit_price": "10.00"}],
            "service_level": "sandbox:standard",
        }

    def post_one(self, client: httpx.Client) -> None:
        ref = f"DRILL-{uuid.uuid4().hex[:12]}"
        body = self.order_body(ref)
        key = uuid.uuid4().hex
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                r = client.post(
                    "/api/v1/orders/", json=body, headers={"Idempotency-Key": key}, timeout=30
                )
            except httpx.HTTPError as exc:
                self.statuses[f"network:{type(exc).__name__}"] += 1
                time.sleep(1)
                continue
            self.latencies.append(time.monotonic() - started)
            self.statuses[r.status_code] += 1
            ctype = r.headers.get("content-type", "")
            if r.status_code >= 500 and not (
                r.status_code == 503 and ctype.startswith("application/problem+json")
            ):
                self.bad.append(f"{r.status_code} {ctype} {r.text[:200]!r}")
            if r.status_code in (201, 200):
                self.accepted.append(ref)
                return
            if r.status_code in (409, 503, 429):
                time.sleep(float(r.headers.get("Retry-After", "1") or 1))
                continue
            self.bad.append(f"unexpected {r.status_code} {r.text[:200]!r}")
            return

    def partner(self) -> None:
        with httpx.Client(
            base_url=self.stack.web, headers={"Authorization": f"Bearer {self.stack.api_key}"}
        ) as client:
            while not self.stop.is_set():
                self.post_one(client)
                time.sleep(1 / self.rate)

    def probe(self) -> None:
        while not self.stop.is_set():
            try:
                r = httpx.get(self.stack.web + "/readyz", timeout=5)
                self.readyz.append((time.time(), r.status_code, r.json().get("checks", {})))
            except (httpx.HTTPError, ValueError):
                self.readyz.append((time.time(), 0, {}))
            time.sleep(1)

    def start(self, partners: int = 2) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.partner, daemon=True) for _ in range(partners)]
        threads.append(threading.Thread(target=self.probe, daemon=True))
        for thread in threads:
            thread.start()
        return threads

    def finish(self, threads: list[threading.Thread]) -> None:
        self.stop.set()
        for thread in threads:
            thread.join(320)


def _skus(stack: Stack) -> list[str]:
    rows = stack.sql(
        "SELECT p.sku FROM inventory_product p WHERE p.is_active ORDER BY p.id LIMIT 20"
    )
    # Plenty of stock everywhere, so that every drill order is allocated and dispatched.
    stack.sql("UPDATE inventory_stocklevel SET on_hand = on_hand + 1000000")
    return [r[0] for r in rows]


def _settle(stack: Stack, refs: list[str], timeout: float) -> dict:
    """Wait until every accepted order is dispatched and every webhook processed."""
    deadline = time.monotonic() + timeout
    result: dict = {}
    while True:
        rows = stack.sql(
            """
            SELECT o.external_reference, count(DISTINCT s.id),
                   count(DISTINCT s.id) FILTER (WHERE s.provider_reference <> ''),
                   count(DISTINCT s.provider_reference) FILTER (WHERE s.provider_reference <> '')
            FROM orders_order o LEFT JOIN logistics_shipment s ON s.order_id = o.id
            WHERE o.external_reference = ANY(%s)
            GROUP BY o.external_reference
            """,
            [refs],
        )
        found = {r[0]: r for r in rows}
        undispatched = [
            ref
            for ref in refs
            if ref not in found or found[ref][2] < found[ref][1] or found[ref][1] == 0
        ]
        webhooks = dict(
            stack.sql("SELECT status, count(*) FROM logistics_inboundwebhook GROUP BY status")
        )
        pending_hooks = sum(v for k, v in webhooks.items() if k != "processed")
        duplicates = stack.sql(
            """
            SELECT count(*) FROM (SELECT channel_id, external_reference FROM orders_order
            WHERE external_reference = ANY(%s) GROUP BY 1, 2 HAVING count(*) > 1) d
            """,
            [refs],
        )[0][0]
        doubled_lsp = stack.sql(
            """
            SELECT count(*) FROM (SELECT provider_id, provider_reference FROM logistics_shipment
            WHERE provider_reference <> '' GROUP BY 1, 2 HAVING count(*) > 1) d
            """
        )[0][0]
        dead = stack.dead()
        result = {
            "dead_processes": dead,
            "accepted": len(refs),
            "missing_in_db": sum(1 for ref in refs if ref not in found),
            "not_dispatched": len(undispatched),
            "orders_doubled": duplicates,
            "lsp_shipments_doubled": doubled_lsp,
            "webhooks": webhooks,
            "webhooks_unprocessed": pending_hooks,
        }
        if dead:
            # Nothing will drain without them: name the cause instead of timing out.
            _log(f"processes died: {json.dumps(dead)}")
            return result
        if (not undispatched and pending_hooks == 0) or time.monotonic() > deadline:
            return result
        time.sleep(3)


def _summary(load: Load) -> dict:
    lat = sorted(load.latencies)
    p95 = lat[int(len(lat) * 0.95) - 1] if lat else 0
    return {
        "responses": {str(k): v for k, v in sorted(load.statuses.items(), key=str)},
        "bad_responses": len(load.bad),
        "bad_examples": load.bad[:3],
        "p95_seconds": round(p95, 3),
    }


def drill_redis(stack: Stack, outage: float) -> tuple[bool, dict]:
    load = Load(stack=stack, skus=_skus(stack))
    threads = load.start()
    time.sleep(15)
    _log(f"stopping Redis for {outage:.0f} s")
    down_at = time.time()
    stack.redis_down()
    time.sleep(outage)
    stack.redis_up()
    up_at = time.time()
    _log("Redis is back")
    time.sleep(15)
    load.finish(threads)
    during = [r for r in load.readyz if down_at + 3 < r[0] < up_at]
    readyz_reported = bool(during) and all(
        r[1] == 503 and r[2].get("broker") == "down" and r[2].get("database") == "ok"
        for r in during
    )
    accepted_during = stack.sql(
        "SELECT count(*) FROM orders_order WHERE external_reference = ANY(%s) "
        "AND created_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
        [load.accepted, down_at, up_at],
    )[0][0]
    _log("waiting for the backlog to drain")
    settle_started = time.monotonic()
    settled = _settle(stack, load.accepted, timeout=300)
    figures = {
        "outage_seconds": outage,
        "orders_accepted_during_outage": accepted_during,
        "readyz_reported_broker_down_throughout": readyz_reported,
        "readyz_samples_during_outage": len(during),
        "seconds_to_drain_after_recovery": round(time.monotonic() - settle_started, 1),
        **_summary(load),
        **settled,
    }
    ok = (
        not settled["dead_processes"]
        and figures["bad_responses"] == 0
        and accepted_during > 0
        and readyz_reported
        and settled["missing_in_db"] == 0
        and settled["not_dispatched"] == 0
        and settled["orders_doubled"] == 0
        and settled["lsp_shipments_doubled"] == 0
        and settled["webhooks_unprocessed"] == 0
    )
    return ok, figures


def drill_postgres(stack: Stack) -> tuple[bool, dict]:
    load = Load(stack=stack, skus=_skus(stack), rate=6.0)
    threads = load.start(partners=3)
    time.sleep(15)
    _log("restarting Postgres (pg_ctl restart -m fast)")
    started = time.time()
    stack.postgres_restart()
    restart_seconds = time.time() - started
    _log(f"Postgres back after {restart_seconds:.1f} s")
    time.sleep(20)
    load.finish(threads)
    recovered = [r for r in load.readyz if r[0] > started + restart_seconds + 10]
    settled = _settle(stack, load.accepted, timeout=300)
    figures = {
        "restart_seconds": round(restart_seconds, 1),
        "readyz_ok_after_recovery": bool(recovered) and all(r[1] == 200 for r in recovered),
        **_summary(load),
        **settled,
    }
    ok = (
        not settled["dead_processes"]
        and figures["bad_responses"] == 0
        and figures["readyz_ok_after_recovery"]
        and settled["missing_in_db"] == 0
        and settled["not_dispatched"] == 0
        and settled["orders_doubled"] == 0
        and settled["lsp_shipments_doubled"] == 0
        and settled["webhooks_unprocessed"] == 0
    )
    return ok, figures


def run(name: str, outage: float, loglevel: str = "WARNING") -> tuple[bool, dict]:
    tmp = Path(tempfile.mkdtemp(prefix=f"consign-drill-{name}-"))
    stack = Stack(tmp=tmp, loglevel=loglevel)
    _log(f"{name}: own services under {tmp} (pg :{stack.pg_port}, redis :{stack.redis_port})")
    ok = False
    try:
        stack.start()
        ok, figures = drill_redis(stack, outage) if name == "redis" else drill_postgres(stack)
        return ok, figures
    finally:
        stack.stop()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            _log(f"logs kept in {tmp}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("drill", choices=["redis", "postgres", "all"])
    parser.add_argument("--outage", type=float, default=60.0, help="Redis outage in seconds.")
    parser.add_argument("--report", type=Path, help="Write a Markdown report here.")
    parser.add_argument("--loglevel", default="WARNING", help="Worker and beat log level.")
    args = parser.parse_args(argv)
    names = ["redis", "postgres"] if args.drill == "all" else [args.drill]
    results = {}
    for name in names:
        ok, figures = run(name, args.outage, args.loglevel)
        results[name] = (ok, figures)
        _log(f"{name}: {'PASS' if ok else 'FAIL'} {json.dumps(figures, default=str)}")
    if args.report:
        lines = [
            "# Failure drills: latest run",
            "",
            f"Run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
            f"`python scripts/drills.py {' '.join(argv)}` (`make drill`), on a shared, busy "
            "2-core machine. Each drill had its own embedded Postgres and Redis.",
            "",
        ]
        for name, (ok, figures) in results.items():
            lines += [f"## {name}: {'PASS' if ok else 'FAIL'}", "", "```json"]
            lines += [json.dumps(figures, indent=2, default=str), "```", ""]
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text("\n".join(lines))
    return 0 if all(ok for ok, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
