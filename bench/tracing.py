"""Benchmark 7: what tracing costs. Create throughput (wrk, 16 connections, server CPU per request) and event
latency (benchmark 2's probe) of embedded `taskstream up` with tracing off, on with every trace sampled, and
on with 10 % sampled (`parentbased_traceidratio`), exporting over OTLP/HTTP to a sink in this process that
answers every export at once. The three modes alternate in each round; medians over the rounds."""

from __future__ import annotations

import statistics
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench import wrk
from bench.common import Options, Row, Server, ms, percentile, sign_up
from bench.events import measure as event_latencies

MODES: dict[str, dict[str, str]] = {
    "off": {},
    "100 %": {"OTEL_TRACES_SAMPLER": "parentbased_always_on"},
    "10 %": {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
}
CONNECTIONS = 16


class OtlpSink:
    """Accepts OTLP/HTTP exports on 127.0.0.1 and keeps only their count and size."""

    def __init__(self) -> None:
        self.exports = 0
        self.bytes = 0
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = len(self.rfile.read(int(self.headers.get("content-length", "0"))))
                with lock:
                    sink.exports += 1
                    sink.bytes += size
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _env(mode: str, sink: OtlpSink) -> dict[str, str]:
    if mode == "off":
        return {}
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        **MODES[mode],
    }


async def run(opts: Options) -> list[Row]:
    if not wrk.available():
        opts.notes.append("wrk not installed (Debian package `wrk`): the tracing cost (benchmark 7) skipped")
        return []
    rounds, seconds, changes = (1, 3.0, 40) if opts.quick else (3, 8.0, 150)
    script = wrk.post_json_script(opts.workdir, '{"title": "traced create", "priority": "high"}')
    creates: dict[str, list[wrk.WrkResult]] = {m: [] for m in MODES}
    latencies: dict[str, list[float]] = {m: [] for m in MODES}
    exported: dict[str, tuple[int, int]] = {m: (0, 0) for m in MODES}
    sink = OtlpSink()
    try:
        for n in range(rounds):
            for mode in MODES:
                before = (sink.exports, sink.bytes)
                server = Server(opts.workdir, name=f"tracing-{n}-{mode.split()[0]}", env=_env(mode, sink))
                await server.start()
                try:
                    headers = await sign_up(server.base)
                    await wrk.run(
                        f"{server.base}/api/v1/tasks",
                        connections=CONNECTIONS,
                        duration_s=1.0,
                        script=script,
                        headers=headers,
                    )  # warm-up
                    creates[mode].append(
                        await wrk.run(
                            f"{server.base}/api/v1/tasks",
                            connections=CONNECTIONS,
                            duration_s=seconds,
                            script=script,
                            headers=headers,
                            server_pid=server.pid,
                        )
                    )
                    found, _ = await event_latencies(server.base, changes=changes, warmup=10)
                    latencies[mode] += found
                finally:
                    server.stop()
                total = exported[mode]
                exported[mode] = (total[0] + sink.exports - before[0], total[1] + sink.bytes - before[1])
    finally:
        sink.close()
    return _rows(creates, latencies, exported)


def _rows(
    creates: dict[str, list[wrk.WrkResult]],
    latencies: dict[str, list[float]],
    exported: dict[str, tuple[int, int]],
) -> list[Row]:
    rows: list[Row] = []
    off_rps = statistics.median(r.rps for r in creates["off"])
    off_p99 = ms(percentile(latencies["off"], 99))
    for mode, results in creates.items():
        rps = statistics.median(r.rps for r in results)
        cpu = statistics.median(r.cpu_ms_per_request or 0.0 for r in results)
        p50 = statistics.median(r.p50_ms for r in results)
        p99 = statistics.median(r.p99_ms for r in results)
        non_2xx = sum(r.non_2xx for r in results)
        exports, size = exported[mode]
        spans = "" if mode == "off" else f" · {exports} OTLP exports, {size / 1024:.0f} KiB"
        if mode != "off" and exports == 0:
            spans += " (NOTHING EXPORTED: the figure is not of tracing)"
        rows.append(
            Row(
                bench="7 tracing",
                figure=f"create @{CONNECTIONS}, tracing {mode}",
                value=rps,
                unit="req/s",
                detail=f"p50 {p50:.1f} ms · p99 {p99:.1f} ms · server CPU {cpu:.2f} ms/request · "
                f"non-2xx {non_2xx} · rounds {len(results)}{spans}",
                ceiling=None if mode == "off" else off_rps,
                note="wrk; ceiling = tracing off, same run" if mode != "off" else "wrk",
            )
        )
    for mode, found in latencies.items():
        p99 = ms(percentile(found, 99))
        rows.append(
            Row(
                bench="7 tracing",
                figure=f"event latency p99, tracing {mode}",
                value=p99,
                unit="ms",
                detail=f"p50 {ms(percentile(found, 50)):.1f} ms · n={len(found)}",
                ceiling=None if mode == "off" else off_p99,
                lower_is_better=True,
            )
        )
    return rows
