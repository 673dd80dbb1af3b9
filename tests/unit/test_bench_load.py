"""bench.load.combine: several measured windows of one load make one result."""

from __future__ import annotations

from bench.load import LoadResult, combine


def _window(latencies: list[float], seconds: float, *, errors: int = 0) -> LoadResult:
    return LoadResult(
        concurrency=4,
        requests=len(latencies),
        errors=errors,
        seconds=seconds,
        rps=len(latencies) / seconds,
        p50_ms=0.0,
        p99_ms=0.0,
        latencies=latencies,
    )


def test_combine_counts_requests_over_total_time_and_pools_latencies() -> None:
    fast = _window([0.001] * 90, 1.0)
    slow = _window([0.010] * 10, 4.0, errors=2)
    both = combine([fast, slow])
    assert both.requests == 100 and both.errors == 2 and both.seconds == 5.0
    assert both.rps == 20.0  # 100 requests in 5 s, not the mean of 90 and 2.5 req/s
    assert both.p50_ms == 1.0 and both.p99_ms == 10.0
    assert not both.exhausted


def test_combine_keeps_running_out_of_work() -> None:
    ran_out = _window([0.002] * 5, 0.5)
    ran_out.exhausted = True
    assert combine([_window([0.002] * 5, 1.0), ran_out]).exhausted
