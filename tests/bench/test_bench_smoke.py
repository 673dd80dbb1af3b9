"""Smoke run of benchmarks 1 and 2: the figures are produced (not how fast), in well under a minute."""

from __future__ import annotations

import math
from pathlib import Path

from bench.common import Options, Server, sign_up
from bench.load import run_load
from bench.report import markdown, text_table

from bench import api, events


async def test_api_and_event_figures_are_produced(tmp_path: Path) -> None:
    opts = Options(quick=True, workdir=tmp_path, pg=False)
    server = Server(tmp_path, name="smoke")
    startup = await server.start()
    try:
        work = api.Workload(await sign_up(server.base))
        await api._seed_via_api(server.base, work, 20)
        ceiling = api.Ceiling(opts, work)
        await ceiling.server.start()
        try:
            results = {}
            for op in api.OPS:
                for level in api.LEVELS:
                    pair = []
                    for base, request in (
                        (server.base, work.request(op)),
                        (ceiling.server.base, ceiling.requests[op]),
                    ):
                        pair.append(
                            await run_load(
                                base,
                                request,
                                concurrency=min(level, 4),
                                duration_s=0.15,
                                warmup_s=0.0,
                                headers=work.headers,
                            )
                        )
                    results[(op, level)] = (pair[0], pair[1])
        finally:
            ceiling.server.stop()
        latencies, _ = await events.measure(server.base, changes=5, warmup=1, gap_s=0.0)
    finally:
        server.stop()

    rows = [*api._rows("SQLite", results), events._row("embedded", latencies, 0, 20.0)]
    assert startup > 0
    assert len(rows) == len(api.OPS) * len(api.LEVELS) + 1
    for row in rows:
        assert row.value is not None and math.isfinite(row.value) and row.value >= 0, row
        assert row.ceiling is None or row.ceiling > 0, row
    create_64 = next(r for r in rows if r.figure == "create @64 (SQLite)")
    assert create_64.target and create_64.met is not None and create_64.ratio is not None
    assert len(latencies) == 5 and all(latency >= 0 for latency in latencies)
    table = markdown(rows, header="smoke", notes=[])
    assert "| 1 API | create @64 (SQLite) |" in table and "event latency p99, embedded" in text_table(rows)
