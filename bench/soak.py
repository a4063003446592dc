"""Mixed-load soak: partners posting orders, LSP webhooks arriving, agents searching the desk,
all at once for a bounded time, against a private stack (own embedded Postgres and Redis,
gunicorn, worker, beat, LSP sandbox; see scripts/drills.py).

    python bench/soak.py                 # 10 minutes
    python bench/soak.py --minutes 2     # a short run on a busy machine
    python bench/soak.py --order-rate 8 --search-rate 8

Webhooks arrive from the sandbox, which advances every dispatched shipment through its
tracking steps and posts signed webhooks to Consign. Prints per-kind counts, errors and
p50/p95/p99 latencies, and exits 1 on any error (a 5xx, a network error, an unexpected
status) or on work left undone after the run.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from drills import Load, Stack, _settle, _skus  # noqa: E402

SEARCHES = ["Drill", "Amsterdam", "1011 AB", "CS-0000", "example.com", "DRILL-", "+31", "Customer"]


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            if error:
                self.errors[kind].append(error)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def agent_session(stack: Stack) -> httpx.Client:
    """An agent logged in through the admin login form.

    The stack runs with production settings (Secure cookies) behind no TLS, so the
    client says it came through an HTTPS proxy and carries its cookies by hand.
    """
    https = {"X-Forwarded-Proto": "https"}
    client = httpx.Client(base_url=stack.web, timeout=30, headers=https)
    page = client.get("/admin/login/")
    csrf = page.cookies["csrftoken"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/admin/login/?next=/desk/",
        data={"username": "agent", "password": "consign-demo", "csrfmiddlewaretoken": token},
        headers={
            "Referer": stack.web.replace("http://", "https://") + "/admin/login/",
            "Cookie": f"csrftoken={csrf}",
        },
    )
    if response.status_code != 302:
        raise RuntimeError(f"agent login failed: {response.status_code} {response.text[:300]}")
    session = response.cookies["sessionid"]
    return httpx.Client(
        base_url=stack.web, timeout=30, headers={**https, "Cookie": f"sessionid={session}"}
    )


def searcher(stack: Stack, rec: Recorder, stop: threading.Event, rate: float) -> None:
    try:
        client = agent_session(stack)
    except Exception as exc:  # recorded: a soak whose agents cannot log in fails
        rec.add("desk_search", 0.0, f"login: {exc}")
        return
    i = 0
    while not stop.is_set():
        q = SEARCHES[i % len(SEARCHES)]
        i += 1
        started = time.monotonic()
        try:
            r = client.get("/desk/", params={"q": q})
            error = None if r.status_code == 200 else f"{r.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        rec.add("desk_search", time.monotonic() - started, error)
        time.sleep(1 / rate)


def poster(load: Load, rec: Recorder, stop: threading.Event, rate: float) -> None:
    with httpx.Client(
        base_url=load.stack.web, headers={"Authorization": f"Bearer {load.stack.api_key}"}
    ) as client:
        while not stop.is_set():
            ref = f"SOAK-{uuid.uuid4().hex[:12]}"
            started = time.monotonic()
            try:
                r = client.post(
                    "/api/v1/orders/",
                    json=load.order_body(ref),
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                    timeout=30,
                )
                error = None if r.status_code == 201 else f"{r.status_code} {r.text[:120]}"
                if r.status_code == 201:
                    with rec.lock:
                        load.accepted.append(ref)
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            rec.add("order_post", time.monotonic() - started, error)
            time.sleep(1 / rate)


def webhook_figures(stack: Stack) -> dict:
    rows = stack.sql(
        """
        SELECT count(*), percentile_cont(0.95) WITHIN GROUP (
                 ORDER BY extract(epoch FROM processed_at - received_at)),
               count(*) FILTER (WHERE status <> 'processed')
        FROM logistics_inboundwebhook
        """
    )
    total, p95, unprocessed = rows[0]
    return {"webhooks": total, "webhook_p95_to_processed_s": p95, "unprocessed": unprocessed}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--order-rate", type=float, default=4.0, help="Orders/s per partner.")
    parser.add_argument("--partners", type=int, default=2)
    parser.add_argument("--search-rate", type=float, default=4.0, help="Searches/s per agent.")
    parser.add_argument("--agents", type=int, default=2)
    args = parser.parse_args(argv)

    import tempfile

    stack = Stack(tmp=Path(tempfile.mkdtemp(prefix="consign-soak-")))
    rec = Recorder()
    stop = threading.Event()
    try:
        stack.start()
        load = Load(stack=stack, skus=_skus(stack))
        threads = [
            threading.Thread(target=poster, args=(load, rec, stop, args.order_rate), daemon=True)
            for _ in range(args.partners)
        ] + [
            threading.Thread(
                target=searcher, args=(stack, rec, stop, args.search_rate), daemon=True
            )
            for _ in range(args.agents)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.minutes * 60)
        stop.set()
        for thread in threads:
            thread.join(60)
        elapsed = time.monotonic() - started
        settled = _settle(stack, load.accepted, timeout=180)
        hooks = webhook_figures(stack)
    finally:
        stop.set()
        stack.stop()
        shutil.rmtree(stack.tmp, ignore_errors=True)

    print(f"soak: {args.minutes} min, {args.partners} partners, {args.agents} agents")
    print(
        f"{'kind':<14}{'count':>8}{'per s':>8}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    )
    failed = False
    for kind, values in sorted(rec.latency.items()):
        errors = len(rec.errors[kind])
        failed |= errors > 0
        print(
            f"{kind:<14}{len(values):>8}{len(values) / elapsed:>8.1f}{errors:>8}"
            f"{_pct(values, 0.5):>9.0f}{_pct(values, 0.95):>9.0f}{_pct(values, 0.99):>9.0f}"
        )
        for example in rec.errors[kind][:3]:
            print(f"    error: {example}")
    print(
        f"webhooks received {hooks['webhooks']}, unprocessed {hooks['unprocessed']}, "
        f"p95 received→processed {float(hooks['webhook_p95_to_processed_s'] or 0):.2f} s"
    )
    print(
        f"orders accepted {settled['accepted']}, missing {settled['missing_in_db']}, "
        f"not dispatched {settled['not_dispatched']}, doubled {settled['orders_doubled']}"
    )
    failed |= bool(settled["missing_in_db"] or settled["not_dispatched"] or hooks["unprocessed"])
    print("RESULT:", "FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
