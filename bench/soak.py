"""Calibrated mixed-load soak: measure the capacity of a private stack, then hold a fixed
fraction of it, open loop, for a bounded time (issue 9).

    python bench/soak.py                          # calibrate, then 10 minutes at 50 %
    python bench/soak.py --minutes 2 --fraction 0.5 --report docs/perf-soak-latest.md
    python bench/soak.py --mix intake=0.4,webhook=0.4,search=0.2

The stack is the drills' (scripts/drills.py): its own embedded Postgres and Redis,
gunicorn (2 workers × 4 threads), one Celery worker (concurrency 4), beat and the LSP
sandbox, all with production settings. The same processes and database are used for
every phase:

1. warm-up: a few seconds of every kind, not counted;
2. capacity alone: each kind closed loop (--clients clients back to back) for
   --calib-seconds (webhooks at most 10 s); webhooks and intake end to end (the lower
   of accepted/s and processed/s, or dispatched/s, by the worker, from the stored
   receipt, processing, creation and dispatch times);
3. mixed capacity: the mix (--mix shares) closed loop for --mixed-seconds gives an
   estimate (the total throughput, lowered to what the worker processed or dispatched
   if it was the bottleneck; soak_load.mixed_capacity); open-loop steps of
   --step-seconds then find the highest rate that holds: no error, no shortfall, and
   the worker kept up (webhook receipt → processed and order accepted → dispatched p95
   within --max-lag; soak_load.search_capacity);
4. soak: every kind OPEN LOOP at --fraction × its share of the mixed capacity for
   --minutes (arrivals on a fixed schedule; latency counted from the due time);
5. settle: every accepted order dispatched, every webhook processed within --grace s.

Kinds: partner intake (POST /api/v1/orders/, which also makes the worker dispatch to the
sandbox and the sandbox send its own tracking webhooks), partner read and list, desk
search and desk order page as the logged-in demo agent, and signed LSP webhooks for a
pool of dispatched shipments of a second provider (each an in-transit, out-for-delivery
or delivered event, so each changes a shipment and mostly an order).

Exit status 1 on any error (non-2xx, exception or timeout), an achieved rate more than
--max-shortfall below the offered rate, or work not done within --grace; with
--require-targets also when an earlier issue's latency target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import soak_load as sl  # noqa: E402
from drills import Load, Stack, _settle, _skus  # noqa: E402
from lean_http import LeanClient  # noqa: E402

from logistics import webhook_signing  # noqa: E402

SOAK_PROVIDER = "soak-lsp"
SOAK_SECRET = "whsec_c29hay1zZWNyZXQtc29hay1zZWNyZXQtc29haw=="  # noqa: S105 - soak-only secret
LIST_PATHS = (
    "/api/v1/orders/?page_size=50",
    "/api/v1/orders/?page_size=50&status=allocated&status=in_fulfilment",
    "/api/v1/orders/?page_size=50&ordering=updated_at&updated_after=2026-01-01T00:00:00Z",
)
TRACKING_STEPS = ("IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED")

POOL_SCRIPT = """
import json, sys
sys.path.insert(0, "bench")
from _logistics_common import bulk_shipments
from logistics.models import Provider
provider, _ = Provider.objects.update_or_create(
    code=sys.argv[1],
    defaults={"name": "soak LSP", "webhook_secret": sys.argv[2], "base_url": "",
              "adapter": "generic_http", "supports_webhooks": True},
)
shipments = bulk_shipments(count=int(sys.argv[3]), provider=provider, tag=sys.argv[4])
print(json.dumps([[s.provider_reference, str(s.idempotency_token), s.tracking_number]
                  for s in shipments]))
"""


class SoakStack(Stack):
    """The drills' stack with the production timings of the sweepers.

    The drills shorten the ack timeout to 5 s so that an outage recovers quickly; under
    a steady load that would re-enqueue work that is merely queued.
    """

    def spawn_all(self) -> None:
        self.env.update({"LOGISTICS_ACK_TIMEOUT_SECONDS": "60", "LOGISTICS_SWEEP_SECONDS": "15"})
        super().spawn_all()


def _log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- Webhooks of the soak's own LSP -----------------------------------------------


def webhook_pool(stack: Stack, count: int) -> list[tuple[str, str, str]]:
    """`count` dispatched shipments of the soak provider (bulk-written, not measured)."""
    tag = f"soak{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [sys.executable, "-c", POOL_SCRIPT, SOAK_PROVIDER, SOAK_SECRET, str(count), tag],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"could not create the webhook pool:\n{result.stderr[-3000:]}")
    return [tuple(row) for row in json.loads(result.stdout.strip().splitlines()[-1])]


class WebhookSource:
    """Signed tracking webhooks: each shipment walks in transit → out for delivery →
    delivered, its steps a block of shipments apart so that one order is not hammered."""

    BLOCK = 100

    def __init__(self, shipments: list[tuple[str, str, str]]) -> None:
        self.shipments = list(shipments)
        self.sent_ids: list[str] = []
        self.reused = 0
        self._events = self._walk()

    def add(self, shipments: list[tuple[str, str, str]]) -> None:
        self.shipments.extend(shipments)

    @property
    def left(self) -> int:
        """Fresh shipments not yet sent any event (each takes len(TRACKING_STEPS))."""
        return len(self.shipments) - self._next

    def _walk(self) -> Iterator[tuple[tuple[str, str, str], str]]:
        self._next = 0
        while True:
            if self._next >= len(self.shipments):
                # Out of fresh shipments: repeat the last step of old ones (new event
                # ids: stored and processed, but no status change). Reported.
                self.reused += 1
                yield self.shipments[self.reused % len(self.shipments)], TRACKING_STEPS[-1]
                continue
            block = self.shipments[self._next : self._next + self.BLOCK]
            self._next += len(block)
            for step in TRACKING_STEPS:
                for shipment in block:
                    yield shipment, step

    def next_signed(self) -> tuple[bytes, dict[str, str]]:
        (provider_reference, token, tracking_number), step = next(self._events)
        now = dt.datetime.now(tz=dt.UTC).isoformat()
        body = json.dumps(
            {
                "type": "shipment.tracking_updated",
                "timestamp": now,
                "data": {
                    "shipment_id": provider_reference,
                    "reference": token,
                    "tracking_number": tracking_number,
                    "event": {"id": f"evt_{uuid.uuid4().hex}", "status": step, "occurred_at": now},
                },
            }
        ).encode()
        headers = webhook_signing.sign_headers(secret=SOAK_SECRET, body=body)
        self.sent_ids.append(headers["webhook-id"])
        return body, headers


def webhook_figures(stack: Stack, ids: list[str]) -> dict:
    """Receipt → processed of the given webhooks, from their stored rows."""
    rows = stack.sql(
        """
        SELECT status, extract(epoch FROM received_at), extract(epoch FROM processed_at)
        FROM logistics_inboundwebhook WHERE webhook_id = ANY(%s)
        """,
        [ids],
    )
    processed = [(float(r[1]), float(r[2])) for r in rows if r[0] == "processed"]
    span = max(done for _, done in processed) - min(got for got, _ in processed) if processed else 0
    return {
        "stored": len(rows),
        "processed": len(processed),
        "not_processed": len(rows) - len(processed),
        "latencies": [done - got for got, done in processed],
        # First receipt to last processing: the worker's throughput when it was the
        # bottleneck all along (a backlog from start to end).
        "processed_per_second": len(processed) / span if span > 0 else None,
    }


def processed_rate(stack: Stack, ids: list[str], wall_window: tuple[float, float]) -> float:
    """Webhooks of `ids` the worker finished per second inside the wall-clock window."""
    start, end = wall_window
    count = stack.sql(
        """
        SELECT count(*) FROM logistics_inboundwebhook WHERE webhook_id = ANY(%s)
        AND status = 'processed' AND processed_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)
        """,
        [ids, start, end],
    )[0][0]
    return count / (end - start)


def dispatch_figures(
    stack: Stack, refs: list[str], wall_window: tuple[float, float] | None = None
) -> dict:
    """Accepted → dispatched of the orders posted with these external references.

    With a wall-clock window, also how many of them the worker dispatched per second
    inside it (its dispatch throughput when it was the bottleneck).
    """
    start, end = wall_window or (0.0, 0.0)
    rows = stack.sql(
        """
        SELECT extract(epoch FROM o.created_at), extract(epoch FROM min(s.dispatched_at))
        FROM orders_order o
        JOIN orders_channel c ON c.id = o.channel_id AND c.code = 'webshop'
        LEFT JOIN logistics_shipment s ON s.order_id = o.id
        WHERE o.external_reference = ANY(%s)
        GROUP BY o.id
        """,
        [refs],
    )
    done = [(float(r[0]), float(r[1])) for r in rows if r[1] is not None]
    span = max(d for _, d in done) - min(c for c, _ in done) if done else 0
    in_window = sum(start <= d <= end for _, d in done)
    return {
        "dispatched": len(done),
        "not_dispatched": len(rows) - len(done),
        "latencies": [d - c for c, d in done],
        "dispatched_per_second": len(done) / span if span > 0 else None,
        "window_rate": in_window / (end - start) if wall_window else None,
    }


def backlog_now(stack: Stack) -> dict:
    rows = stack.sql(
        """
        SELECT (SELECT count(*) FROM logistics_inboundwebhook WHERE status <> 'processed'),
               (SELECT count(*) FROM logistics_dispatchoutbox WHERE status = 'pending'),
               (SELECT coalesce(extract(epoch FROM now() - max(received_at)), 1e9)
                FROM logistics_inboundwebhook)
        """
    )
    return {"webhooks": rows[0][0], "dispatch": rows[0][1], "quiet_for": float(rows[0][2])}


def wait_quiet(stack: Stack, timeout: float) -> float:
    """Wait until nothing is left to process and the sandbox has sent its last tracking
    step (no webhook for more than a step's time), so one phase's work does not run
    into the next one's measurement; seconds waited."""
    started = time.monotonic()
    step = float(stack.env.get("LSP_SANDBOX_STEP_SECONDS", "3"))
    while time.monotonic() - started < timeout:
        now = backlog_now(stack)
        if now["webhooks"] == 0 and now["dispatch"] == 0 and now["quiet_for"] > step + 1:
            break
        time.sleep(1)
    return time.monotonic() - started


# --- Traffic ----------------------------------------------------------------------


class Traffic:
    """One async request per kind, against the stack, with the clients and samples it needs."""

    def __init__(
        self, stack: Stack, load: Load, agent_cookie: str, hooks: WebhookSource, timeout: float
    ):
        # The lean client (bench/lean_http.py): httpx's own CPU, on the 2 cores the
        # stack runs on, was a large share of every request. Idle connections are
        # dropped after 1 s, before gunicorn's 2 s keep-alive closes them.
        self.stack = stack
        self.load = load
        self.hooks = hooks
        self.partner = LeanClient(
            stack.web,
            size=512,
            timeout=timeout,
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )
        self.agent = LeanClient(
            stack.web,
            size=512,
            timeout=timeout,
            headers={"X-Forwarded-Proto": "https", "Cookie": f"sessionid={agent_cookie}"},
        )
        self.lsp = LeanClient(stack.web, size=512, timeout=timeout)
        self.accepted: list[str] = []
        self.partner_numbers: list[str] = []
        self.desk_numbers: list[str] = []
        self.searches: list[str] = []

    async def close(self) -> None:
        for client in (self.partner, self.agent, self.lsp):
            await client.aclose()

    def refresh_samples(self) -> None:
        """Real values to read and search for, sampled from the stack's database."""
        self.partner_numbers = [
            r[0]
            for r in self.stack.sql(
                "SELECT o.number FROM orders_order o JOIN orders_channel c ON c.id = o.channel_id "
                "WHERE c.code = 'webshop' ORDER BY random() LIMIT 300"
            )
        ]
        rows = self.stack.sql(
            """
            SELECT o.number, o.external_reference, o.customer_email, o.shipping_postcode,
                   o.customer_name, coalesce(max(s.tracking_number), '')
            FROM orders_order o LEFT JOIN logistics_shipment s ON s.order_id = o.id
            WHERE o.id IN (SELECT id FROM orders_order ORDER BY random() LIMIT 200)
            GROUP BY o.id
            """
        )
        self.desk_numbers = [r[0] for r in rows]
        searches = []
        for number, ref, email, postcode, name, tracking in rows:
            # As a customer reads them out: lower case, no spaces, a name fragment.
            searches += [number.lower(), ref.lower(), email.upper()]
            if postcode:
                searches.append(postcode.replace(" ", "").lower())
            if tracking:
                searches.append(tracking)
            if name:
                searches.append(name.split()[-1][:6])
        self.searches = searches or ["Customer"]

    async def intake(self, i: int) -> str | None:
        ref = f"SOAK-{uuid.uuid4().hex[:12]}"
        r = await self.partner.request(
            "POST",
            "/api/v1/orders/",
            json_body=self.load.order_body(ref),
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        if r.status_code != 201:
            return f"{r.status_code} {r.text[:200]}"
        self.accepted.append(ref)
        self.partner_numbers.append(r.json()["number"])
        return None

    async def read(self, i: int) -> str | None:
        number = self.partner_numbers[i % len(self.partner_numbers)]
        r = await self.partner.request("GET", f"/api/v1/orders/{number}/")
        return None if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"

    async def list(self, i: int) -> str | None:
        r = await self.partner.request("GET", LIST_PATHS[i % len(LIST_PATHS)])
        return None if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"

    async def search(self, i: int) -> str | None:
        r = await self.agent.request(
            "GET", "/desk/", params={"q": self.searches[i % len(self.searches)]}
        )
        return None if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"

    async def order_page(self, i: int) -> str | None:
        r = await self.agent.request(
            "GET", f"/desk/orders/{self.desk_numbers[i % len(self.desk_numbers)]}/"
        )
        return None if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"

    async def webhook(self, i: int) -> str | None:
        body, headers = self.hooks.next_signed()
        r = await self.lsp.request(
            "POST", f"/webhooks/lsp/{SOAK_PROVIDER}/", content=body, headers=headers
        )
        return None if 200 <= r.status_code < 300 else f"{r.status_code} {r.text[:200]}"

    def requests(self) -> dict[str, sl.Request]:
        return {kind: getattr(self, kind) for kind in sl.KINDS}


def agent_cookie(stack: Stack) -> str:
    """Log the demo agent in through the admin login form; its session cookie.

    The stack runs production settings (Secure cookies) behind no TLS, so the client
    says it came through an HTTPS proxy and carries its cookies by hand.
    """
    https = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=stack.web, timeout=30, headers=https) as client:
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
        raise SystemExit(f"agent login failed: {response.status_code} {response.text[:300]}")
    return response.cookies["sessionid"]


# --- Phases -----------------------------------------------------------------------


def _print_results(title: str, results: dict[str, sl.KindResult]) -> None:
    _log(title)
    for kind, r in results.items():
        offered = f"{r.offered_rate:7.2f}" if r.offered_rate else "      –"
        print(
            f"    {kind:<11} offered {offered}/s achieved {r.achieved_rate:7.2f}/s "
            f"ok {r.ok:6d} errors {len(r.errors):4d} p50/p95/p99 ms "
            f"{sl._ms(r.pct(0.5))}/{sl._ms(r.pct(0.95))}/{sl._ms(r.pct(0.99))}",
            flush=True,
        )
        for example in r.errors[:3]:
            print(f"        error: {example}", flush=True)


async def open_loop_step(
    stack: Stack,
    traffic: Traffic,
    requests: dict[str, sl.Request],
    hooks: WebhookSource,
    mix: dict[str, float],
    total: float,
    args: argparse.Namespace,
) -> tuple[bool, str]:
    """Offer the mix at `total` req/s open loop for --step-seconds; did it hold?"""
    rates = sl.offered_rates(sl.capacity_at(mix=mix, total=total, bound_by=""), 1.0)
    first_id, first_order = len(hooks.sent_ids), len(traffic.accepted)
    stats = await sl.open_loop(requests, rates, duration=args.step_seconds, timeout=args.timeout)
    waited = wait_quiet(stack, args.grace)
    p95 = sl.percentile_ms(webhook_figures(stack, hooks.sent_ids[first_id:])["latencies"], 0.95)
    dispatch = dispatch_figures(stack, traffic.accepted[first_order:])
    dispatch_p95 = sl.percentile_ms(dispatch["latencies"], 0.95)
    behind = [
        what
        for what, p95_ms in (("webhook processing", p95), ("order dispatch", dispatch_p95))
        if not sl.worker_kept_up(
            processing_p95_seconds=None if p95_ms is None else p95_ms / 1000,
            max_lag_seconds=args.max_lag,
        )
    ]
    if dispatch["not_dispatched"]:
        behind.append(f"order dispatch ({dispatch['not_dispatched']} left)")
    held, reasons = sl.step_held(stats.results, behind=behind, max_shortfall=args.max_shortfall)
    _print_results(
        f"open-loop step at {total:.1f} req/s: {'held' if held else 'failed'}", stats.results
    )
    _log(
        f"    webhooks receipt → processed p95 {sl._ms(p95)} ms, orders accepted → dispatched "
        f"p95 {sl._ms(dispatch_p95)} ms; quiet again after {waited:.0f} s"
    )
    note = f"{total:.1f} req/s {'held' if held else 'failed (' + ', '.join(reasons) + ')'}"
    return held, note


async def calibrate(
    stack: Stack,
    args: argparse.Namespace,
    traffic: Traffic,
    requests: dict,
    hooks: WebhookSource,
    mix: dict[str, float],
    alone: dict[str, float],
    detail: dict[str, str],
    failures: list[str],
    ramp: list[str],
) -> sl.MixedCapacity:
    """Capacity of the mix: each kind alone, the mix closed loop, then open-loop steps.

    Fills `alone` and `detail` (per kind), `failures` (errors while calibrating) and
    `ramp` (one note per open-loop step).
    """
    clients, timeout = args.clients, args.timeout
    for kind in [k for k in sl.KINDS if k in mix]:
        traffic.refresh_samples()
        first_id, first_order = len(hooks.sent_ids), len(traffic.accepted)
        # Webhooks are accepted several times faster than one worker processes
        # them, and every one accepted must then be processed: a shorter phase
        # measures acceptance as well and leaves a backlog that drains in minutes,
        # not in a quarter of an hour.
        seconds = min(args.calib_seconds, 10) if kind == "webhook" else args.calib_seconds
        result = await sl.closed_loop(
            {kind: requests[kind]},
            {kind: 1},
            clients=clients,
            duration=seconds,
            timeout=timeout,
        )
        _print_results(f"capacity alone: {kind}", result)
        r = result[kind]
        if r.errors:
            failures.append(f"calibration {kind}: {len(r.errors)} errors, e.g. {r.errors[0]}")
        alone[kind] = r.achieved_rate
        if kind in ("intake", "webhook"):
            waited = wait_quiet(stack, args.grace)
            _log(f"    backlog drained in {waited:.0f} s")
        if kind == "intake":
            # Orders are done when dispatched: the lower of accepted/s and dispatched/s.
            done = dispatch_figures(stack, traffic.accepted[first_order:])
            rate = done["dispatched_per_second"]
            alone[kind] = sl.end_to_end_rate(r.achieved_rate, rate)
            detail[kind] = f"accepted {r.achieved_rate:.1f}/s, dispatched {rate or 0:.1f}/s"
            _log(f"    orders dispatched {rate or 0:.1f}/s, accepted {r.achieved_rate:.1f}/s")
        if kind == "webhook":
            done = webhook_figures(stack, hooks.sent_ids[first_id:])["processed_per_second"]
            alone[kind] = sl.end_to_end_rate(r.achieved_rate, done)
            detail[kind] = f"accepted {r.achieved_rate:.1f}/s, processed {done or 0:.1f}/s"
            _log(f"    webhooks processed {done or 0:.1f}/s, accepted {r.achieved_rate:.1f}/s")

    traffic.refresh_samples()
    first_id, first_order = len(hooks.sent_ids), len(traffic.accepted)
    wall0 = time.time()
    saturated = await sl.closed_loop(
        requests, mix, clients=clients, duration=args.mixed_seconds, timeout=timeout
    )
    _print_results("mixed capacity (closed loop)", saturated)
    failures += [
        f"mixed calibration {k}: {len(r.errors)} errors, e.g. {r.errors[0]}"
        for k, r in saturated.items()
        if r.errors
    ]
    done = None
    if "webhook" in mix:
        w = saturated["webhook"]
        window = (wall0 + w.window[0], wall0 + w.window[1])
        done = processed_rate(stack, hooks.sent_ids[first_id:], window)
        _log(f"    webhooks processed {done:.1f}/s while accepted {w.achieved_rate:.1f}/s")
    dispatched = None
    if "intake" in mix:
        i = saturated["intake"]
        window = (wall0 + i.window[0], wall0 + i.window[1])
        dispatched = dispatch_figures(stack, traffic.accepted[first_order:], window)["window_rate"]
        _log(f"    orders dispatched {dispatched:.1f}/s while accepted {i.achieved_rate:.1f}/s")
    capacity = sl.mixed_capacity(
        mix=mix, saturated=saturated, webhook_processed_rate=done, dispatched_rate=dispatched
    )
    waited = wait_quiet(stack, args.grace)
    _log(f"    backlog drained in {waited:.0f} s")
    web_total = sum(r.achieved_rate for r in saturated.values())
    if args.ramp_steps >= 0:
        # Closed loop gives an estimate; the capacity the soak is a fraction of is
        # the highest open-loop rate of the mix that holds.
        _log(
            f"open-loop search from the web tier's {web_total:.1f} req/s "
            f"({capacity.bound_by}: {capacity.total:.1f})"
        )

        async def probe(total: float) -> bool:
            held, note = await open_loop_step(stack, traffic, requests, hooks, mix, total, args)
            ramp.append(note)
            return held

        total, _ = await sl.search_capacity(
            probe, start=web_total, low=capacity.total, steps=args.ramp_steps
        )
        capacity = sl.capacity_at(
            mix=mix,
            total=total,
            bound_by=f"open-loop search (closed loop: web tier {web_total:.1f} req/s, "
            f"{capacity.bound_by} {capacity.total:.1f} req/s)",
        )
    return capacity


async def soak(stack: Stack, args: argparse.Namespace, command: str) -> sl.SoakReport:
    began = time.monotonic()
    load_before = _loadavg()
    mix = sl.parse_mix(args.mix)
    load = Load(stack=stack, skus=_skus(stack))
    _log("creating the webhook pool")
    # Enough fresh shipments for ~2,000 accepted webhooks/s in the webhook calibration,
    # plus the warm-up, the mixed phase and the ramp; topped up before the soak.
    pool = args.pool or int(2000 * min(args.calib_seconds, 10) / len(TRACKING_STEPS)) + 500
    hooks = WebhookSource(webhook_pool(stack, pool))
    traffic = Traffic(stack, load, agent_cookie(stack), hooks, args.timeout)
    requests = traffic.requests()
    clients, timeout = args.clients, args.timeout
    try:
        _log("warm-up")
        await sl.closed_loop(
            {"intake": requests["intake"]}, {"intake": 1}, clients=4, duration=5, timeout=timeout
        )
        traffic.refresh_samples()
        await sl.closed_loop(
            requests, dict.fromkeys(mix, 1), clients=4, duration=5, timeout=timeout
        )
        wait_quiet(stack, args.grace)

        alone: dict[str, float] = {}
        detail: dict[str, str] = {}
        failures: list[str] = []
        warnings: list[str] = []
        ramp: list[str] = []
        if args.capacity:
            # A given capacity: the same offered load for runs that compare server setups.
            capacity = sl.capacity_at(mix=mix, total=args.capacity, bound_by="given (--capacity)")
        else:
            capacity = await calibrate(
                stack, args, traffic, requests, hooks, mix, alone, detail, failures, ramp
            )
        rates = sl.offered_rates(capacity, args.fraction)
        _log(
            f"mixed capacity {capacity.total:.1f} req/s ({capacity.bound_by}); "
            f"soak at {args.fraction:.0%}: " + ", ".join(f"{k} {v:.2f}/s" for k, v in rates.items())
        )
        if hooks.reused:
            warnings.append(
                f"the webhook pool ran out during calibration ({hooks.reused} repeated "
                "delivered events, cheaper to process): raise --pool"
            )
        reused_before = hooks.reused

        needed = int(rates.get("webhook", 0) * args.minutes * 60 * 1.2 / len(TRACKING_STEPS))
        if needed > hooks.left:
            _log(f"topping up the webhook pool by {needed - hooks.left} shipments")
            hooks.add(webhook_pool(stack, needed - hooks.left))
        traffic.refresh_samples()
        background_before = stack.sql(
            "SELECT count(*) FROM logistics_inboundwebhook i JOIN logistics_provider p "
            "ON p.id = i.provider_id WHERE p.code = 'sandbox'"
        )[0][0]
        first_id = len(hooks.sent_ids)
        accepted_before = len(traffic.accepted)
        _log(f"soak: open loop for {args.minutes:g} min")
        stats = await sl.open_loop(requests, rates, duration=args.minutes * 60, timeout=timeout)
        _print_results("soak", stats.results)
        at_end = backlog_now(stack)
        _log(f"    backlog when the load stopped: {at_end}")
        settle_started = time.monotonic()
        settled = _settle(stack, traffic.accepted[accepted_before:], timeout=args.grace)
        drain_seconds = time.monotonic() - settle_started
        drained = settled["not_dispatched"] == 0 and settled["webhooks_unprocessed"] == 0
        backlog = sl.Backlog(
            grace_seconds=args.grace,
            drained=drained,
            seconds_to_drain=drain_seconds if drained else None,
            webhooks_left=settled["webhooks_unprocessed"],
            orders_not_dispatched=settled["not_dispatched"],
            orders_missing=settled["missing_in_db"],
            orders_doubled=settled["orders_doubled"],
            lsp_shipments_doubled=settled["lsp_shipments_doubled"],
        )
        soak_ids = hooks.sent_ids[first_id:]
        figures = webhook_figures(stack, soak_ids)
        dispatch = dispatch_figures(stack, traffic.accepted[accepted_before:])
        background = (
            stack.sql(
                "SELECT count(*) FROM logistics_inboundwebhook i JOIN logistics_provider p "
                "ON p.id = i.provider_id WHERE p.code = 'sandbox'"
            )[0][0]
            - background_before
        )
        verdict = sl.verdict(stats.results, backlog, max_shortfall=args.max_shortfall)
        if hooks.reused > reused_before:
            verdict.failures.append(
                f"webhook pool ran out in the soak: {hooks.reused - reused_before} events repeated"
            )
        verdict.failures += failures
        checks = sl.check_targets(stats.results, figures["latencies"])
        if args.require_targets:
            verdict.failures += [
                f"target missed: {c.target.kind} {c.target.metric} {sl._ms(c.measured_ms)} ms "
                f">= {c.target.limit_ms:g} ms ({c.target.source})"
                for c in checks
                if c.held is False
            ]
        verdict.ok = not verdict.failures
        return sl.SoakReport(
            command=command,
            when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            load_before=load_before,
            load_after=_loadavg(),
            minutes=args.minutes,
            fraction=args.fraction,
            clients=clients,
            mix=mix,
            alone=alone,
            alone_detail=detail,
            capacity=capacity,
            ramp=ramp + warnings,
            soak=stats,
            webhook_latencies=figures["latencies"],
            dispatch_latencies=dispatch["latencies"],
            webhook_processed=figures["processed"],
            webhook_backlog_at_end=at_end["webhooks"],
            background_webhooks=background,
            backlog=backlog,
            verdict=verdict,
            targets=checks,
            elapsed_minutes=(time.monotonic() - began) / 60,
        )
    finally:
        await traffic.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="Length of the soak.")
    parser.add_argument("--fraction", type=float, default=0.5, help="Share of the capacity.")
    parser.add_argument(
        "--mix",
        default=",".join(f"{k}={v}" for k, v in sl.DEFAULT_MIX.items()),
        help=f"Request shares per kind ({', '.join(sl.KINDS)}).",
    )
    parser.add_argument("--clients", type=int, default=8, help="Closed-loop clients.")
    parser.add_argument("--calib-seconds", type=float, default=20.0)
    parser.add_argument("--mixed-seconds", type=float, default=30.0)
    parser.add_argument(
        "--ramp-steps",
        type=int,
        default=2,
        help="Halvings in the open-loop capacity search (-1: trust the closed loop).",
    )
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument(
        "--max-lag",
        type=float,
        default=5.0,
        help="A ramp step fails when webhook receipt → processed p95 exceeds this (s).",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="Per request (an error).")
    parser.add_argument("--grace", type=float, default=180.0, help="Seconds to drain the work.")
    parser.add_argument("--max-shortfall", type=float, default=0.05)
    parser.add_argument(
        "--pool",
        type=int,
        default=0,
        help="Shipments for webhooks at the start (default: enough for ~2,000 webhooks/s).",
    )
    parser.add_argument(
        "--capacity",
        type=float,
        help="Skip the calibration: the mixed capacity in req/s (to compare server setups).",
    )
    parser.add_argument(
        "--web",
        help="gunicorn arguments for the web tier instead of the Procfile's "
        "(e.g. '--workers 4 --threads 1').",
    )
    parser.add_argument("--require-targets", action="store_true", help="Fail on a missed target.")
    parser.add_argument("--report", type=Path, help="Write the Markdown result here.")
    parser.add_argument("--keep", action="store_true", help="Keep the stack's logs and data.")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "bench/soak.py", *argv])
    tmp = Path(tempfile.mkdtemp(prefix="consign-soak-"))
    stack = SoakStack(tmp=tmp)
    if args.web:
        stack.web_args = tuple(shlex.split(args.web))
    _log(f"own stack under {tmp}; load average {_loadavg()}")
    report = None
    try:
        stack.start()
        report = asyncio.run(soak(stack, args, command))
    finally:
        stack.stop()
        if args.keep or report is None or not report.verdict.ok:
            _log(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    text = report.markdown()
    print()
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        header = "# Mixed-load soak: latest run\n\n(Written by `bench/soak.py`.)\n\n"
        args.report.write_text(header + text)
    print("RESULT:", "PASS" if report.verdict.ok else "FAIL")
    return 0 if report.verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
