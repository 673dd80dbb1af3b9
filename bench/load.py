"""Closed-loop HTTP load: N concurrent workers on one httpx.AsyncClient, each sending its next request as
soon as the previous one answered, for a fixed time after a warm-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bench.common import ms, percentile

Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


class Exhausted(Exception):
    """A request factory has no more work (e.g. no open task left to complete)."""


@dataclass
class LoadResult:
    """Throughput (requests/s) and latency percentiles (ms) of the measured window."""

    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    exhausted: bool = False
    latencies: list[float] = field(default_factory=list, repr=False)  # seconds, of the successful requests

    def detail(self) -> str:
        extra = f" · {self.errors} errors" if self.errors else ""
        extra += " · ran out of work" if self.exhausted else ""
        return f"p50 {self.p50_ms:.1f} ms · p99 {self.p99_ms:.1f} ms · n={self.requests}{extra}"


async def run_load(
    base: str,
    request: Request,
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Drive `request` with `concurrency` workers for warmup_s + duration_s; only the last part counts.

    A response other than 2xx counts as an error (and is not a latency sample).
    """
    latencies: list[float] = []
    errors = 0
    exhausted = False
    # One client (one keep-alive connection) per worker: a single shared httpx pool spends its time
    # managing 64 connections and caps the rate far below what the server does (seen in the ceiling).
    one_connection = httpx.Limits(max_connections=1)
    clients = [
        httpx.AsyncClient(base_url=base, headers=headers, limits=one_connection, timeout=60.0)
        for _ in range(concurrency)
    ]
    started = time.perf_counter()
    measure_from = started + warmup_s
    stop_at = measure_from + duration_s
    last_done = measure_from

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal errors, exhausted, last_done
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                response = await request(http)
            except Exhausted:
                exhausted = True
                return
            t1 = time.perf_counter()
            if t0 >= measure_from:
                if response.is_success:
                    latencies.append(t1 - t0)
                else:
                    errors += 1
                last_done = max(last_done, t1)

    try:
        await asyncio.gather(*(worker(http) for http in clients))
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))
    window = (stop_at if not exhausted else last_done) - measure_from
    window = max(window, 1e-9)
    return LoadResult(
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=window,
        rps=len(latencies) / window,
        p50_ms=ms(percentile(latencies, 50)),
        p99_ms=ms(percentile(latencies, 99)),
        exhausted=exhausted,
        latencies=latencies,
    )


def combine(parts: list[LoadResult]) -> LoadResult:
    """One result from several measured windows of the same load: their requests over their total time."""
    latencies = [latency for part in parts for latency in part.latencies]
    requests = sum(part.requests for part in parts)
    seconds = sum(part.seconds for part in parts)
    return LoadResult(
        concurrency=parts[0].concurrency,
        requests=requests,
        errors=sum(part.errors for part in parts),
        seconds=seconds,
        rps=requests / seconds,
        p50_ms=ms(percentile(latencies, 50)),
        p99_ms=ms(percentile(latencies, 99)),
        exhausted=any(part.exhausted for part in parts),
        latencies=latencies,
    )
