"""The soak's measuring logic (bench/soak_load.py): load generators, capacity, verdict.

No stack: traffic kinds are fake async requests (or a tiny local HTTP server) whose
service time and concurrency are known, so each figure has a right answer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bench import soak_load as sl


def _server(capacity: int, service: float):
    """A fake endpoint serving at most `capacity` requests at once, `service` s each."""
    gate = asyncio.Semaphore(capacity)

    async def request(index: int) -> str | None:
        async with gate:
            await asyncio.sleep(service)
        return None

    return request


def _result(kind="intake", offered=10.0, ok_in_window=100, window=(0.0, 10.0), errors=()):
    r = sl.KindResult(kind, offered, window)
    r.ok = r.ok_in_window = ok_in_window
    r.latencies = [0.01] * ok_in_window
    r.errors = list(errors)
    return r


def _drained(**kwargs) -> sl.Backlog:
    return sl.Backlog(grace_seconds=60, drained=True, seconds_to_drain=3, **kwargs)


def test_percentile_is_nearest_rank_in_ms():
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert sl.percentile_ms(values, 0.95) == pytest.approx(95)
    assert sl.percentile_ms(values, 0.5) == pytest.approx(50)
    assert sl.percentile_ms([0.2], 0.99) == pytest.approx(200)
    assert sl.percentile_ms([], 0.95) is None


def test_parse_mix_normalises_shares_and_refuses_unknown_kinds():
    assert sl.parse_mix("intake=3,webhook=1") == {"intake": 0.75, "webhook": 0.25}
    assert sl.parse_mix("intake=1,search=0") == {"intake": 1.0}
    with pytest.raises(ValueError, match="unknown kind"):
        sl.parse_mix("intake=1,checkout=1")


def test_open_loop_keeps_the_offered_rate_when_responses_are_slow():
    # 0.3 s per response: a client waiting for answers would send ~3/s, not 20/s.
    stats = asyncio.run(
        sl.open_loop({"intake": _server(100, 0.3)}, {"intake": 20}, duration=3, timeout=5)
    )
    r = stats.results["intake"]
    assert r.sent == 60
    assert r.ok == 60
    assert r.achieved_rate == pytest.approx(20, rel=0.05)
    assert r.pct(0.5) >= 300


def test_open_loop_charges_queueing_to_latency_and_shows_a_shortfall():
    # The fake server completes 10/s; 20/s offered must queue, not slow the offer down.
    stats = asyncio.run(
        sl.open_loop({"intake": _server(1, 0.1)}, {"intake": 20}, duration=3, timeout=10)
    )
    r = stats.results["intake"]
    assert r.sent == 60
    assert r.achieved_rate < 0.6 * 20
    # The last requests waited for every earlier one: ~3 s in the queue, not 0.1 s.
    assert max(r.latencies) > 2.5
    result = sl.verdict(stats.results, _drained())
    assert not result.ok
    assert "short by more than 5%" in result.failures[0]


def test_open_loop_counts_timeouts_exceptions_and_bad_statuses_as_errors():
    async def slow(index):
        await asyncio.sleep(1)

    async def broken(index):
        raise httpx.ConnectError("refused")

    async def bad_status(index):
        return "500 Internal Server Error"

    stats = asyncio.run(
        sl.open_loop(
            {"slow": slow, "broken": broken, "bad": bad_status},
            {"slow": 5, "broken": 5, "bad": 5},
            duration=1,
            timeout=0.2,
        )
    )
    assert stats.results["slow"].errors[0] == "timeout after 0.2 s"
    assert stats.results["broken"].errors[0] == "ConnectError: refused"
    assert stats.results["bad"].errors[0] == "500 Internal Server Error"
    assert all(len(r.errors) == r.sent == 5 for r in stats.results.values())
    assert all(r.ok == 0 for r in stats.results.values())


def test_closed_loop_throughput_is_the_servers_capacity_and_follows_the_weights():
    # 2 at a time × 0.05 s = 40 requests/s, whatever the number of clients.
    server = _server(2, 0.05)
    results = asyncio.run(
        sl.closed_loop(
            {"a": server, "b": server},
            {"a": 3, "b": 1},
            clients=8,
            duration=3,
            timeout=5,
        )
    )
    total = sum(r.achieved_rate for r in results.values())
    assert total == pytest.approx(40, rel=0.15)
    share_a = results["a"].ok / (results["a"].ok + results["b"].ok)
    assert share_a == pytest.approx(0.75, abs=0.1)


class _SlowHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_open_loop_over_real_http_is_not_slowed_by_a_slow_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    async def run():
        async with httpx.AsyncClient(timeout=5) as client:

            async def get(index):
                r = await client.get(url)
                return None if r.status_code == 200 else str(r.status_code)

            return await sl.open_loop({"read": get}, {"read": 25}, duration=2, timeout=5)

    try:
        stats = asyncio.run(run())
    finally:
        server.shutdown()
    r = stats.results["read"]
    assert r.errors == []
    assert r.sent == 50
    assert r.achieved_rate == pytest.approx(25, rel=0.05)
    assert r.pct(0.5) >= 200


def test_mixed_capacity_is_the_closed_loop_throughput_when_the_worker_keeps_up():
    saturated = {
        "intake": _result("intake", None, 300),  # 30/s
        "webhook": _result("webhook", None, 300),  # 30/s
    }
    capacity = sl.mixed_capacity(
        mix={"intake": 0.5, "webhook": 0.5}, saturated=saturated, webhook_processed_rate=31
    )
    assert capacity.total == pytest.approx(60)
    assert capacity.per_kind == {"intake": pytest.approx(30), "webhook": pytest.approx(30)}
    assert capacity.bound_by.startswith("web tier")


def test_mixed_capacity_is_bound_by_webhook_processing_when_the_worker_falls_behind():
    saturated = {
        "intake": _result("intake", None, 300),
        "webhook": _result("webhook", None, 300),
    }
    capacity = sl.mixed_capacity(
        mix={"intake": 0.5, "webhook": 0.5}, saturated=saturated, webhook_processed_rate=10
    )
    # The mix keeps its proportions: 10 webhooks/s at a 50 % share is 20 requests/s.
    assert capacity.total == pytest.approx(20)
    assert capacity.per_kind["intake"] == pytest.approx(10)
    assert capacity.bound_by.startswith("webhook processing")
    assert sl.offered_rates(capacity, 0.5) == {
        "intake": pytest.approx(5),
        "webhook": pytest.approx(5),
    }


def test_webhooks_alone_count_end_to_end():
    assert sl.end_to_end_rate(80, 12.5) == 12.5
    assert sl.end_to_end_rate(20, 25) == 20


def test_verdict_passes_a_clean_run_within_the_allowed_shortfall():
    results = {"intake": _result(offered=100, ok_in_window=960)}  # 96/s of 100/s
    assert sl.verdict(results, _drained()) == sl.Verdict(True, [])


def test_verdict_fails_on_a_shortfall_over_five_percent():
    results = {"intake": _result(offered=100, ok_in_window=940)}
    assert not sl.verdict(results, _drained()).ok


def test_shortfall_allows_one_request_of_rounding_at_low_rates():
    # 0.4/s over a 27 s window is 10.8 requests: 10 completed is not a shortfall, 9 is.
    assert not sl.short_of_offer(_result(offered=0.4, ok_in_window=10, window=(3, 30)), 0.05)
    assert sl.short_of_offer(_result(offered=0.4, ok_in_window=9, window=(3, 30)), 0.05)


def test_mixed_capacity_is_bound_by_order_dispatch_when_the_worker_falls_behind_on_it():
    saturated = {
        "intake": _result("intake", None, 300),  # 30/s
        "webhook": _result("webhook", None, 300),
    }
    capacity = sl.mixed_capacity(
        mix={"intake": 0.5, "webhook": 0.5},
        saturated=saturated,
        webhook_processed_rate=25,  # a bound too (50/s), but not the lowest
        dispatched_rate=12,
    )
    # 12 dispatched orders/s at a 50 % intake share is 24 requests/s of the mix.
    assert capacity.total == pytest.approx(24)
    assert capacity.per_kind["intake"] == pytest.approx(12)
    assert capacity.bound_by.startswith("order dispatch")


def test_worker_kept_up_while_webhook_processing_latency_stays_bounded():
    assert sl.worker_kept_up(processing_p95_seconds=1.2, max_lag_seconds=5)
    assert not sl.worker_kept_up(processing_p95_seconds=5.5, max_lag_seconds=5)
    assert sl.worker_kept_up(processing_p95_seconds=None, max_lag_seconds=5)


def test_shortfall_slack_covers_the_requests_in_flight_at_the_window_end():
    # 3.24/s with a 300 ms median: ~1 request in flight; 42 of 43.7 expected is fine.
    r = _result(offered=3.24, ok_in_window=42, window=(1.5, 15))
    r.latencies = [0.3] * 42
    assert not sl.short_of_offer(r, 0.05)
    r.ok_in_window = 38
    assert sl.short_of_offer(r, 0.05)


def test_a_step_fails_on_errors_shortfall_or_a_worker_falling_behind():
    clean = {"intake": _result(offered=100, ok_in_window=1000)}
    assert sl.step_held(clean, max_shortfall=0.05) == (True, [])
    assert sl.step_held(clean, behind=["order dispatch"], max_shortfall=0.05) == (
        False,
        ["order dispatch fell behind"],
    )
    short = {"intake": _result(offered=100, ok_in_window=800)}
    assert not sl.step_held(short, max_shortfall=0.05)[0]
    failing = {"intake": _result(offered=100, ok_in_window=1000, errors=["timeout"])}
    assert not sl.step_held(failing, max_shortfall=0.05)[0]


def _probe_holding_up_to(limit: float, tried: list[float]):
    async def probe(rate: float) -> bool:
        tried.append(rate)
        return rate <= limit

    return probe


def test_rate_search_steps_up_from_a_closed_loop_estimate_that_holds():
    tried: list[float] = []
    rate, steps = asyncio.run(
        sl.search_capacity(_probe_holding_up_to(14, tried), start=10, low=8, steps=2)
    )
    # 10 and 12.5 hold, 15.625 fails; halvings: 14.06 fails, 13.28 holds.
    assert tried == pytest.approx([10, 12.5, 15.625, 14.0625, 13.28125])
    assert rate == pytest.approx(13.28125)
    assert all(held == (r <= 14) for r, held in steps)


def test_rate_search_stops_going_up_after_max_up_steps():
    tried: list[float] = []
    rate, _ = asyncio.run(
        sl.search_capacity(_probe_holding_up_to(1000, tried), start=10, low=8, steps=2, max_up=2)
    )
    assert rate == pytest.approx(15.625)
    assert len(tried) == 3


def test_rate_search_below_a_failing_estimate_starts_from_the_worker_bound():
    tried: list[float] = []
    rate, steps = asyncio.run(
        sl.search_capacity(_probe_holding_up_to(9.3, tried), start=12, low=8, steps=3)
    )
    assert tried == [12, 10, 9, 9.5]
    assert rate == 9  # the highest rate that held; 9.3 lies within the last halving
    assert all(held == (r <= 9.3) for r, held in steps)


def test_rate_search_keeps_the_worker_bound_when_nothing_above_it_holds():
    tried: list[float] = []
    rate, _ = asyncio.run(
        sl.search_capacity(_probe_holding_up_to(5, tried), start=12, low=8, steps=2)
    )
    assert rate == 8
    assert tried == [12, 10, 9]


def test_verdict_fails_on_a_single_error():
    results = {"search": _result("search", errors=["503 Service Unavailable"])}
    result = sl.verdict(results, _drained())
    assert not result.ok
    assert result.failures == ["search: 1 errors, e.g. 503 Service Unavailable"]


def test_verdict_fails_when_the_backlog_does_not_drain_in_the_grace_period():
    backlog = sl.Backlog(grace_seconds=60, drained=False, seconds_to_drain=None, webhooks_left=12)
    result = sl.verdict({"webhook": _result("webhook")}, backlog)
    assert not result.ok
    assert "12 webhooks unprocessed" in result.failures[0]


def test_verdict_fails_on_lost_or_doubled_orders():
    result = sl.verdict({"intake": _result()}, _drained(orders_missing=1, orders_doubled=2))
    assert result.failures == ["orders missing: 1", "orders doubled: 2"]


def test_targets_say_which_held():
    results = {
        "read": _result("read"),  # 10 ms
        "search": _result("search"),
    }
    results["search"].latencies = [0.150] * 100  # 150 ms ≥ 100 ms
    checks = {c.target.kind: c for c in sl.check_targets(results, [0.5] * 20)}
    assert checks["read"].held is True
    assert checks["search"].held is False
    assert checks["webhook_processing"].measured_ms == pytest.approx(500)
    assert checks["webhook_processing"].held is True
    assert checks["list"].held is None  # not part of this run
