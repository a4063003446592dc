"""The measuring half of `bench/soak.py`: load generators, capacity, verdict and report.

Nothing here starts a process or knows Consign's URLs; a traffic kind is an async
callable that performs one request and returns None (success) or an error text.
That keeps the arithmetic testable without a stack (tests/bench/test_soak_load.py).

- `closed_loop`: N clients, each sending its next request when the previous one is
  answered, picking a kind by weight. Its throughput is the capacity: the most the
  deployment completes per second with that mix.
- `open_loop`: requests start at fixed, evenly spaced times whatever the responses do
  (no coordinated omission): latency is measured from the time a request was *due*,
  so a server (or a client) falling behind shows up as latency and as a shortfall of
  the achieved rate against the offered one, never as a politely slower offer.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

Request = Callable[[int], Awaitable[str | None]]

KINDS = ("intake", "read", "list", "search", "order_page", "webhook")
KIND_LABELS = {
    "intake": "partner intake `POST /api/v1/orders/`",
    "read": "partner read `GET /api/v1/orders/{number}/`",
    "list": "partner list `GET /api/v1/orders/?…`",
    "search": "desk search `GET /desk/?q=`",
    "order_page": "desk order page `GET /desk/orders/{number}/`",
    "webhook": "signed LSP webhook `POST /webhooks/lsp/{code}/`",
}
# Share of requests per kind in the mix (normalised before use). Partners mostly post
# orders and poll a few; the LSP sends about one tracking event per order step; agents
# search and open orders.
DEFAULT_MIX = {
    "intake": 0.30,
    "read": 0.10,
    "list": 0.05,
    "search": 0.15,
    "order_page": 0.10,
    "webhook": 0.30,
}
WEBHOOK_PROCESSING = "webhook_processing"


@dataclass(frozen=True)
class Target:
    kind: str
    quantile: float
    limit_ms: float
    source: str

    @property
    def metric(self) -> str:
        return f"p{round(self.quantile * 100)}"


# The latency promises of the earlier issues (docs/perf.md), held against the soak.
TARGETS = (
    Target("intake", 0.99, 250, "issue 4"),
    Target("read", 0.95, 30, "issue 4"),
    Target("list", 0.95, 50, "issue 4"),
    Target(WEBHOOK_PROCESSING, 0.95, 2000, "issue 6 (receipt → order status)"),
    Target("search", 0.95, 100, "issue 7"),
    Target("order_page", 0.95, 150, "issue 7"),
)


def percentile_ms(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of seconds, in ms; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1] * 1000


def parse_mix(text: str) -> dict[str, float]:
    """`intake=0.3,webhook=0.3,...` → normalised shares; unknown kinds are refused."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, share = part.partition("=")
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        mix[kind] = float(share)
    return normalise(mix)


def normalise(mix: Mapping[str, float]) -> dict[str, float]:
    total = sum(v for v in mix.values() if v > 0)
    if total <= 0:
        raise ValueError("the mix needs at least one kind with a positive share")
    return {k: v / total for k, v in mix.items() if v > 0}


# --- Recording --------------------------------------------------------------------


@dataclass
class KindResult:
    """What one kind did in one phase. Times are seconds from the phase's start."""

    kind: str
    offered_rate: float | None  # None in a closed loop
    window: tuple[float, float]  # the steady part in which the rate is counted
    sent: int = 0
    ok: int = 0
    ok_in_window: int = 0
    latencies: list[float] = field(default_factory=list)  # successful requests only
    errors: list[str] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        """Successful completions per second inside the window (steady state)."""
        start, end = self.window
        return self.ok_in_window / (end - start) if end > start else 0.0

    def pct(self, q: float) -> float | None:
        return percentile_ms(self.latencies, q)

    def record(self, finished: float, latency: float, error: str | None) -> None:
        if error:
            self.errors.append(error)
            return
        self.ok += 1
        self.latencies.append(latency)
        if self.window[0] <= finished <= self.window[1]:
            self.ok_in_window += 1


def steady_window(duration: float) -> tuple[float, float]:
    """The part of a phase in which throughput is counted.

    The first tenth (at most 5 s) is left out: requests completing then arrived before
    the queue reached its steady length. Counting completions in [skip, duration] of a
    system that keeps up gives exactly the offered rate, whatever the latency; one
    that falls behind completes fewer.
    """
    return (min(5.0, duration * 0.1), duration)


async def _call(request: Request, index: int, timeout: float) -> str | None:
    try:
        return await asyncio.wait_for(request(index), timeout)
    except TimeoutError:
        return f"timeout after {timeout:g} s"
    except Exception as exc:  # any failure of the client or the network is an error
        return f"{type(exc).__name__}: {exc}"[:300]


@dataclass
class OpenLoopStats:
    results: dict[str, KindResult]
    max_start_lag: float  # how late the client started a request, worst case (seconds)


async def open_loop(
    requests: Mapping[str, Request],
    rates: Mapping[str, float],
    *,
    duration: float,
    timeout: float,
) -> OpenLoopStats:
    """Offer each kind at its rate (evenly spaced arrivals) for `duration` seconds.

    A request's latency runs from the moment it was due, not the moment the client got
    round to sending it, so client lag is charged to the result rather than hidden.
    Waits for every started request (at most `timeout`) before returning.
    """
    loop = asyncio.get_running_loop()
    window = steady_window(duration)
    results = {k: KindResult(k, r, window) for k, r in rates.items() if r > 0}
    t0 = loop.time() + 0.05
    in_flight: set[asyncio.Task] = set()
    max_lag = 0.0

    async def fire(kind: str, index: int, due: float) -> None:
        error = await _call(requests[kind], index, timeout)
        now = loop.time()
        results[kind].record(now - t0, now - due, error)

    async def arrivals(kind: str, rate: float, offset: float) -> None:
        nonlocal max_lag
        interval = 1 / rate
        index = 0
        while (due := t0 + offset + index * interval) < t0 + duration:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, loop.time() - due)
            task = asyncio.create_task(fire(kind, index, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            results[kind].sent += 1
            index += 1

    # Kinds start at different offsets inside their first interval, so that their
    # arrivals interleave instead of landing together.
    await asyncio.gather(
        *(
            arrivals(kind, rate, (n / len(results)) / rate)
            for n, (kind, rate) in enumerate(r for r in rates.items() if r[1] > 0)
        )
    )
    while in_flight:
        await asyncio.gather(*list(in_flight))
    return OpenLoopStats(results, max_lag)


async def closed_loop(
    requests: Mapping[str, Request],
    weights: Mapping[str, float],
    *,
    clients: int,
    duration: float,
    timeout: float,
    seed: int = 7,
) -> dict[str, KindResult]:
    """`clients` clients back to back for `duration` s, each request's kind drawn by weight.

    Each completion is one draw, so completions per kind follow the weights whatever
    each kind costs; the total throughput is the mix's capacity.
    """
    loop = asyncio.get_running_loop()
    shares = normalise(weights)
    kinds, kind_weights = list(shares), list(shares.values())
    window = steady_window(duration)
    results = {k: KindResult(k, None, window) for k in kinds}
    counters = dict.fromkeys(kinds, 0)
    t0 = loop.time()

    async def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        while loop.time() - t0 < duration:
            kind = rng.choices(kinds, kind_weights)[0]
            index = counters[kind]
            counters[kind] += 1
            results[kind].sent += 1
            started = loop.time()
            error = await _call(requests[kind], index, timeout)
            now = loop.time()
            results[kind].record(now - t0, now - started, error)

    await asyncio.gather(*(client(n) for n in range(clients)))
    return results


# --- Capacity ---------------------------------------------------------------------


@dataclass
class MixedCapacity:
    total: float  # requests/s of the whole mix
    per_kind: dict[str, float]
    bound_by: str


def end_to_end_rate(accepted_rate: float, done_rate: float | None) -> float:
    """Requests/s the deployment both accepts and finishes (webhooks processed, orders
    dispatched by the worker): the lower of the two; None (not measured) counts as keeping up."""
    if done_rate is None:
        return accepted_rate
    return min(accepted_rate, done_rate)


def mixed_capacity(
    *,
    mix: Mapping[str, float],
    saturated: Mapping[str, KindResult],
    webhook_processed_rate: float | None,
    dispatched_rate: float | None = None,
) -> MixedCapacity:
    """The mix's capacity from a closed-loop saturation phase.

    The web tier's capacity is the total throughput of the phase. Webhooks are only
    done when the worker has processed them, and orders when the worker has dispatched
    them: if the worker finished fewer per second than the web tier accepted, the whole
    mix (kept in its proportions) can only go as fast as that worker rate allows, i.e.
    total = processed webhooks/s ÷ webhook share (dispatched orders/s ÷ intake share).
    """
    total = sum(r.achieved_rate for r in saturated.values())
    bound_by = "web tier (closed-loop throughput)"
    shares = normalise(mix)
    for kind, rate, what in (
        ("webhook", webhook_processed_rate, "webhook processing (worker throughput)"),
        ("intake", dispatched_rate, "order dispatch (worker throughput)"),
    ):
        share = shares.get(kind, 0.0)
        if share > 0 and rate is not None and rate / share < total:
            total, bound_by = rate / share, what
    return capacity_at(mix=mix, total=total, bound_by=bound_by)


def capacity_at(*, mix: Mapping[str, float], total: float, bound_by: str) -> MixedCapacity:
    """The mix at `total` requests/s, split by its shares."""
    shares = normalise(mix)
    return MixedCapacity(total, {k: s * total for k, s in shares.items()}, bound_by)


def offered_rates(capacity: MixedCapacity, fraction: float) -> dict[str, float]:
    return {kind: rate * fraction for kind, rate in capacity.per_kind.items()}


# --- Verdict ----------------------------------------------------------------------


SLACK_LATENCY_S = 0.5


def short_of_offer(r: KindResult, max_shortfall: float) -> bool:
    """Did `r` complete fewer than (1 - max_shortfall) of the requests offered in its window?

    The count at the window's end is uncertain by the requests then in flight, which
    is rate × median latency by Little's law (counted for at most SLACK_LATENCY_S: a
    median beyond that is no longer keeping up), plus one for rounding (a kind offered
    at 0.4/s in a 27 s window expects 10.8). Over a long soak that slack is negligible;
    in a short ramp step it keeps a system that keeps up from failing on noise.
    """
    start, end = r.window
    offered = r.offered_rate or 0
    expected = offered * (end - start)
    in_flight = offered * min((r.pct(0.5) or 0) / 1000, SLACK_LATENCY_S)
    return r.ok_in_window + 1 + in_flight < (1 - max_shortfall) * expected


def worker_kept_up(*, processing_p95_seconds: float | None, max_lag_seconds: float) -> bool:
    """Did the worker keep up with the webhooks (or the dispatches) of a step?

    A worker that falls behind makes receipt → processed (accepted → dispatched)
    latency grow for as long as the load lasts; one that keeps up holds it at its
    service time plus the short bursts the sandbox sends. None (nothing of the kind
    in the step) is keeping up.
    """
    return processing_p95_seconds is None or processing_p95_seconds <= max_lag_seconds


def step_held(
    results: Mapping[str, KindResult], *, behind: Sequence[str] = (), max_shortfall: float
) -> tuple[bool, list[str]]:
    """Did an open-loop step at some rate hold: no error, no shortfall, worker kept up?

    `behind` names the worker's jobs that fell behind (e.g. "webhook processing").
    """
    reasons = [f"{k}: {len(r.errors)} errors" for k, r in results.items() if r.errors]
    reasons += [
        f"{k}: {r.achieved_rate:.2f}/s of {r.offered_rate:.2f}/s"
        for k, r in results.items()
        if short_of_offer(r, max_shortfall)
    ]
    reasons += [f"{what} fell behind" for what in behind]
    return not reasons, reasons


async def search_capacity(
    probe: Callable[[float], Awaitable[bool]],
    *,
    start: float,
    low: float,
    steps: int,
    growth: float = 1.25,
    max_up: int = 3,
) -> tuple[float, list[tuple[float, bool]]]:
    """Highest total rate at which the open-loop `probe` holds.

    Tries `start` (the closed-loop estimate) first. If it holds, steps up by `growth`
    until a step fails (at most `max_up` times: a closed loop at a fixed concurrency can
    underestimate what an open loop sustains, e.g. when its clients pile into the
    slowest kind and wait on each other's locks); if it fails, the capacity lies
    between `low` (the conservative worker bound, assumed to hold) and `start`. Then
    `steps` halvings of the interval between the last rate that held and the first
    that failed. Never returns a rate that was probed and failed.
    """
    tried: list[tuple[float, bool]] = []

    async def attempt(rate: float) -> bool:
        held = await probe(rate)
        tried.append((rate, held))
        return held

    if await attempt(start):
        held_at, failed_at = start, None
        for _ in range(max_up):
            rate = held_at * growth
            if await attempt(rate):
                held_at = rate
            else:
                failed_at = rate
                break
        if failed_at is None:
            return held_at, tried
    else:
        held_at, failed_at = min(low, start), start
    for _ in range(steps):
        mid = (held_at + failed_at) / 2
        if await attempt(mid):
            held_at = mid
        else:
            failed_at = mid
    return held_at, tried


@dataclass
class Backlog:
    """State of the asynchronous work after the offered load stopped."""

    grace_seconds: float
    drained: bool
    seconds_to_drain: float | None
    webhooks_left: int = 0  # stored but not processed (pending, unmatched or failed)
    orders_not_dispatched: int = 0
    orders_missing: int = 0
    orders_doubled: int = 0
    lsp_shipments_doubled: int = 0


@dataclass
class Verdict:
    ok: bool
    failures: list[str]


def verdict(
    results: Mapping[str, KindResult], backlog: Backlog, *, max_shortfall: float = 0.05
) -> Verdict:
    """PASS only with no error of any kind, every kind within `max_shortfall` of its
    offered rate, and all asynchronous work done within the grace period."""
    failures = []
    for kind, r in results.items():
        if r.errors:
            failures.append(f"{kind}: {len(r.errors)} errors, e.g. {r.errors[0]}")
        if r.offered_rate and short_of_offer(r, max_shortfall):
            failures.append(
                f"{kind}: achieved {r.achieved_rate:.2f}/s of {r.offered_rate:.2f}/s offered "
                f"(short by more than {max_shortfall:.0%})"
            )
    if not backlog.drained:
        failures.append(
            f"backlog not drained within {backlog.grace_seconds:g} s: "
            f"{backlog.webhooks_left} webhooks unprocessed, "
            f"{backlog.orders_not_dispatched} orders not dispatched"
        )
    for name, count in (
        ("orders missing", backlog.orders_missing),
        ("orders doubled", backlog.orders_doubled),
        ("LSP shipments doubled", backlog.lsp_shipments_doubled),
    ):
        if count:
            failures.append(f"{name}: {count}")
    return Verdict(not failures, failures)


@dataclass
class TargetCheck:
    target: Target
    measured_ms: float | None

    @property
    def held(self) -> bool | None:
        if self.measured_ms is None:
            return None
        return self.measured_ms < self.target.limit_ms


def check_targets(
    results: Mapping[str, KindResult], webhook_latencies: list[float]
) -> list[TargetCheck]:
    """Each earlier issue's latency target next to the soak's figure (None: not measured)."""
    checks = []
    for target in TARGETS:
        if target.kind == WEBHOOK_PROCESSING:
            measured = percentile_ms(webhook_latencies, target.quantile)
        else:
            r = results.get(target.kind)
            measured = r.pct(target.quantile) if r else None
        checks.append(TargetCheck(target, measured))
    return checks


# --- Report -----------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


@dataclass
class SoakReport:
    command: str
    when: str
    load_before: str
    load_after: str
    minutes: float
    fraction: float
    clients: int
    mix: dict[str, float]
    alone: dict[str, float]  # kind → capacity alone (webhook: end to end)
    alone_detail: dict[str, str]
    capacity: MixedCapacity
    ramp: list[str]  # open-loop steps tried to refine the mixed capacity
    soak: OpenLoopStats
    webhook_latencies: list[float]
    dispatch_latencies: list[float]  # order accepted → its first shipment dispatched
    webhook_processed: int
    webhook_backlog_at_end: int
    background_webhooks: int
    backlog: Backlog
    verdict: Verdict
    targets: list[TargetCheck]
    elapsed_minutes: float

    def markdown(self) -> str:
        v = self.verdict
        lines = [
            f"Soak run at {self.when}: `{self.command}`; load average before "
            f"{self.load_before}, after {self.load_after}; {self.elapsed_minutes:.1f} min "
            "in all including calibration.",
            "",
            "Capacity, measured on the same stack just before the soak. Alone: closed "
            f"loop, {self.clients} clients back to back (webhooks and intake end to end: the "
            "lower of accepted/s and processed/s or dispatched/s). In the mix: see the bound "
            "below.",
            "",
            "| kind | mix share | alone, req/s | in the mix, req/s | soak offered, req/s |",
            "|---|---:|---:|---:|---:|",
        ]
        for kind, share in self.mix.items():
            lines.append(
                f"| {kind} | {share:.0%} | {self.alone.get(kind, 0):.1f} | "
                f"{self.capacity.per_kind[kind]:.1f} | "
                f"{self.soak.results[kind].offered_rate or 0:.1f} |"
            )
        lines += [
            f"| **total** | | | **{self.capacity.total:.1f}** | "
            f"**{self.capacity.total * self.fraction:.1f}** |",
            "",
            f"Mixed capacity bound by: {self.capacity.bound_by}. "
            + "; ".join(f"{k}: {d}" for k, d in self.alone_detail.items()),
            "",
            *([f"Open-loop steps: {'; '.join(self.ramp)}.", ""] if self.ramp else []),
            f"Soak: open loop (evenly spaced arrivals, latency from the due time) at "
            f"{self.fraction:.0%} of the mixed capacity for {self.minutes:g} min:",
            "",
            "| kind | offered/s | achieved/s | sent | errors | p50 ms | p95 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for kind, r in self.soak.results.items():
            lines.append(
                f"| {kind} | {r.offered_rate or 0:.2f} | {r.achieved_rate:.2f} | {r.sent} | "
                f"{len(r.errors)} | {_ms(r.pct(0.5))} | {_ms(r.pct(0.95))} | {_ms(r.pct(0.99))} |"
            )
        wl, dl = self.webhook_latencies, self.dispatch_latencies
        lines += [
            f"| webhook receipt → processed | | | {self.webhook_processed} processed | "
            f"{self.webhook_backlog_at_end} backlog at end | {_ms(percentile_ms(wl, 0.5))} | "
            f"{_ms(percentile_ms(wl, 0.95))} | {_ms(percentile_ms(wl, 0.99))} |",
            f"| order accepted → dispatched | | | {len(dl)} dispatched | | "
            f"{_ms(percentile_ms(dl, 0.5))} | {_ms(percentile_ms(dl, 0.95))} | "
            f"{_ms(percentile_ms(dl, 0.99))} |",
            "",
            f"Worst client start lag {self.soak.max_start_lag * 1000:.0f} ms. "
            f"The sandbox also sent {self.background_webhooks} tracking webhooks for the "
            "orders posted (background load, processed by the same worker). "
            + (
                f"Backlog drained {self.backlog.seconds_to_drain:.0f} s after the load stopped"
                if self.backlog.drained and self.backlog.seconds_to_drain is not None
                else f"Backlog NOT drained within {self.backlog.grace_seconds:g} s"
            )
            + f"; orders missing {self.backlog.orders_missing}, not dispatched "
            f"{self.backlog.orders_not_dispatched}, doubled {self.backlog.orders_doubled}, "
            f"LSP shipments doubled {self.backlog.lsp_shipments_doubled}.",
            "",
            "Earlier issues' latency targets under this load:",
            "",
            "| target | from | limit ms | measured ms | held |",
            "|---|---|---:|---:|---|",
        ]
        for check in self.targets:
            t = check.target
            held = {True: "yes", False: "**no**", None: "not measured"}[check.held]
            lines.append(
                f"| {t.kind} {t.metric} | {t.source} | {t.limit_ms:g} | "
                f"{_ms(check.measured_ms)} | {held} |"
            )
        lines += ["", f"**Result: {'PASS' if v.ok else 'FAIL'}**"]
        lines += [f"- {failure}" for failure in v.failures]
        for kind, r in self.soak.results.items():
            for example in r.errors[:3]:
                lines.append(f"- {kind} error example: {example}")
        return "\n".join(lines) + "\n"
