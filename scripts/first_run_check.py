"""Try Consign as a new user would, and time it.

Clones the current commit into a temporary folder, runs `make run` there with
no configuration at all (embedded Postgres and Redis), waits for /healthz and
/readyz, logs in to the admin with a demo login and checks that the order list
shows demo orders, places an order through the partner API and waits for its
dispatch, presses Ctrl-C, checks that every process stopped, then runs `make run`
again and times how long it takes to be ready. On that second run (everything
restarted, the LSP sandbox included) it checks what a restart must not break:
a new order is dispatched, tracked and returnable; the order from the first run
is still tracked at the sandbox (its tracking page opens) and returnable; and a
demo order's tracking page opens (HTML 200).

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
WEB = "http://127.0.0.1:8000"
FLOW_BUDGET_S = 120


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


class Partner:
    """A webshop partner on the partner API, with a key made in the clone."""

    def __init__(self, clone: Path) -> None:
        out = subprocess.run(
            [
                str(clone / ".venv" / "bin" / "python"),
                "scripts/devservices.py",
                "manage",
                "create_api_key",
                "webshop",
                "--name",
                "first-run-check",
            ],
            cwd=clone,
            env=clean_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        key = out.strip().splitlines()[-1]
        self.client = httpx.Client(
            base_url=WEB, headers={"Authorization": f"Bearer {key}"}, timeout=20
        )

    def get(self, path: str, **params) -> httpx.Response:
        return self.client.get(path, params=params)

    def place_order(self, tag: str) -> str:
        """An order for a SKU in stock, shipped by the sandbox; returns its number."""
        orders = self.get("/api/v1/orders/", status="delivered").json()["results"]
        skus = list(dict.fromkeys(line["sku"] for order in orders for line in order["lines"]))
        stock = self.get("/api/v1/inventory/", sku=skus[:100]).json()
        sku = next(item["sku"] for item in stock if item["available"] > 0)
        response = self.client.post(
            "/api/v1/orders/",
            json={
                "external_reference": f"FIRST-RUN-{tag}-{int(time.time())}",
                "currency": "EUR",
                "customer": {"email": "first.run@example.com", "name": "First Run", "phone": ""},
                "shipping_address": {
                    "name": "First Run",
                    "line1": "Stationsplein 1",
                    "line2": "",
                    "city": "Utrecht",
                    "postcode": "3511 ED",
                    "region": "",
                    "country": "NL",
                },
                "lines": [{"sku": sku, "quantity": 1, "unit_price": "10.00"}],
                "service_level": "sandbox:standard",
            },
        )
        if response.status_code != 201:
            raise SystemExit(f"order not accepted: {response.status_code} {response.text}")
        return response.json()["number"]

    def wait(self, what: str, check, budget: float = FLOW_BUDGET_S):
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(1)
        raise SystemExit(f"{what}: not within {budget:.0f} s")

    def dispatched(self, number: str) -> dict:
        def check():
            shipments = self.get(f"/api/v1/orders/{number}/shipments/").json()
            return next((s for s in shipments if s["tracking_number"]), None)

        return self.wait(f"{number} dispatched", check)

    def shipped(self, number: str) -> str:
        def check():
            status = self.get(f"/api/v1/orders/{number}/").json()["status"]
            return status if status in ("shipped", "delivered") else None

        return self.wait(f"{number} tracked to shipped", check)

    def returnable(self, number: str) -> dict:
        """A return of one unit of line 1 gets the provider's return label."""
        response = self.client.post(
            f"/api/v1/orders/{number}/returns/",
            json={"lines": [{"line_number": 1, "quantity": 1, "reason": "size_fit"}]},
        )
        if response.status_code != 201:
            raise SystemExit(f"return for {number} refused: {response.status_code} {response.text}")

        def check():
            returns = self.get(f"/api/v1/orders/{number}/returns/").json()
            if returns[0]["status"] == "label_failed":
                raise SystemExit(f"return label for {number} refused by the sandbox")
            return returns[0]["label"]

        return self.wait(f"return label for {number}", check)

    def demo_tracking_url(self) -> str:
        for order in self.get("/api/v1/orders/", status="delivered").json()["results"]:
            if not order["external_reference"].startswith("DEMO-"):
                continue
            for shipment in self.get(f"/api/v1/orders/{order['number']}/shipments/").json():
                if shipment["tracking_url"]:
                    return shipment["tracking_url"]
        raise SystemExit("no delivered demo order with a tracking link")


def tracking_page_opens(url: str) -> bool:
    page = httpx.get(url, timeout=10, headers={"Accept": "text/html"})
    return page.status_code == 200 and page.headers["content-type"].startswith("text/html")


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
        try:
            partner = Partner(clone)
            first_order = partner.place_order("1")
            first_tracking = partner.dispatched(first_order)["tracking_url"]
        finally:
            stop_s = ctrl_c(proc)
        print(
            f"first make run: /healthz 200 after {healthz_s:.1f} s, /readyz 200 after {readyz_s:.1f} s"
        )
        print(f"admin order list shows {orders_seen} demo order numbers after {orders_at:.1f} s")
        print(f"Ctrl-C stopped every process in {stop_s:.1f} s")

        proc = start_make_run(clone, log)
        _healthz2, readyz2 = wait_ready(proc, SECOND_RUN_BUDGET_S * 3, log)
        # Everything restarted, the LSP sandbox too: nothing it knew may be forgotten.
        try:
            flow_start = time.monotonic()
            second_order = partner.place_order("2")
            dispatched = partner.dispatched(second_order)
            status = partner.shipped(second_order)
            label = partner.returnable(second_order)
            first_page = tracking_page_opens(first_tracking)
            partner.shipped(first_order)
            first_label = partner.returnable(first_order)
            demo_page = tracking_page_opens(partner.demo_tracking_url())
            flow_s = time.monotonic() - flow_start
        finally:
            ctrl_c(proc)
        print(f"second make run: /readyz 200 after {readyz2:.1f} s")
        print(
            f"  new order {second_order}: dispatched ({dispatched['tracking_number']}), "
            f"tracked to {status}, return label {label['tracking_number']}"
        )
        print(
            f"  first run's order {first_order}: tracking page "
            f"{'opens' if first_page else 'FAILED'}, return label {first_label['tracking_number']}"
        )
        print(f"  demo order tracking page: {'opens' if demo_page else 'FAILED'}")
        print(f"  (checked in {flow_s:.0f} s)")
        total = time.monotonic() - started
        print(f"total {total:.0f} s")
        ok = (
            readyz_s < FIRST_RUN_BUDGET_S
            and orders_seen > 0
            and readyz2 < SECOND_RUN_BUDGET_S
            and first_page
            and demo_page
        )
        print("RESULT: " + ("ok" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
