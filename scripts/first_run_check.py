"""Try Consign as a new user would, and time it.

Clones the current commit into a temporary folder, runs `make run` there with
no configuration at all (embedded Postgres and Redis), waits for /healthz and
/readyz, logs in to the admin with a demo login and checks that the order list
shows demo orders, presses Ctrl-C, checks that every process stopped, then
runs `make run` again and times how long it takes to be ready.

    python scripts/first_run_check.py [--keep]

It needs ports 8000, 8700, 55432 and 56379 free (stop your own `make run`
first). Exit status 0 when every promise held; the figures are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PORTS = {"web": 8000, "sandbox": 8700, "postgres": 55432, "redis": 56379}
FIRST_RUN_BUDGET_S = 300
SECOND_RUN_BUDGET_S = 20
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "consign-demo")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
        and not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_make_run(workdir: Path, log: Path) -> subprocess.Popen:
    # Its own session, so that Ctrl-C can be sent to the whole group as a terminal would.
    return subprocess.Popen(
        ["make", "run"],
        cwd=workdir,
        env=clean_env(),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(proc: subprocess.Popen, budget: float, log: Path) -> tuple[float, float]:
    """Seconds until /healthz and /readyz answered 200."""
    start = time.monotonic()
    healthz_at = None
    while time.monotonic() - start < budget:
        if proc.poll() is not None:
            raise SystemExit(f"make run exited with {proc.returncode}; see {log}")
        try:
            if (
                healthz_at is None
                and httpx.get("http://127.0.0.1:8000/healthz", timeout=2).status_code == 200
            ):
                healthz_at = time.monotonic() - start
            if healthz_at is not None:
                ready = httpx.get("http://127.0.0.1:8000/readyz", timeout=5)
                if ready.status_code == 200 and port_open(PORTS["sandbox"]):
                    return healthz_at, time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"not ready within {budget} s; see {log}")


def admin_shows_demo_orders() -> int:
    """Log in as the demo admin and count order numbers on the admin order list."""
    with httpx.Client(
        base_url="http://127.0.0.1:8000", follow_redirects=True, timeout=20
    ) as client:
        page = client.get("/admin/login/?next=/admin/orders/order/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if not token:
            raise SystemExit("admin login page has no CSRF token")
        response = client.post(
            "/admin/login/?next=/admin/orders/order/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": "admin",
                "password": DEMO_PASSWORD,
                "next": "/admin/orders/order/",
            },
            headers={"Referer": "http://127.0.0.1:8000/admin/login/"},
        )
        if response.status_code != 200 or "/admin/login/" in str(response.url):
            raise SystemExit("demo admin login failed")
        return len(set(re.findall(r"CS-\d{6,}", response.text)))


def ctrl_c(proc: subprocess.Popen, timeout: float = 60) -> float:
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise SystemExit("make run did not stop within 60 s of Ctrl-C") from None
    deadline = time.monotonic() + 15
    while any(port_open(p) for p in PORTS.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    still = [name for name, p in PORTS.items() if port_open(p)]
    if still:
        raise SystemExit(f"still listening after Ctrl-C: {', '.join(still)}")
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args()
    busy = [f"{name}:{port}" for name, port in PORTS.items() if port_open(port)]
    if busy:
        print(f"ports in use, stop whatever holds them first: {', '.join(busy)}")
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="consign-first-run-"))
    clone = tmp / "consign"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    log = tmp / "make-run.log"
    print(f"fresh clone in {clone}; log in {log}")
    try:
        started = time.monotonic()
        proc = start_make_run(clone, log)
        healthz_s, readyz_s = wait_ready(proc, FIRST_RUN_BUDGET_S, log)
        # Demo data is seeded beside the starting processes: give it a moment.
        orders_seen, deadline = 0, time.monotonic() + 120
        while not orders_seen and time.monotonic() < deadline:
            orders_seen = admin_shows_demo_orders()
            if not orders_seen:
                time.sleep(2)
        orders_at = time.monotonic() - started
        stop_s = ctrl_c(proc)
        print(
            f"first make run: /healthz 200 after {healthz_s:.1f} s, /readyz 200 after {readyz_s:.1f} s"
        )
        print(f"admin order list shows {orders_seen} demo order numbers after {orders_at:.1f} s")
        print(f"Ctrl-C stopped every process in {stop_s:.1f} s")

        proc = start_make_run(clone, log)
        _healthz2, readyz2 = wait_ready(proc, SECOND_RUN_BUDGET_S * 3, log)
        ctrl_c(proc)
        print(f"second make run: /readyz 200 after {readyz2:.1f} s")
        total = time.monotonic() - started
        print(f"total {total:.0f} s")
        ok = readyz_s < FIRST_RUN_BUDGET_S and orders_seen > 0 and readyz2 < SECOND_RUN_BUDGET_S
        print("RESULT: " + ("ok" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
