"""Smoke run of benchmarks 1 and 2: the figures are produced (not how fast), in well under a minute."""

from __future__ import annotations

import math
from pathlib import Path

from bench.common import Options, Server
from bench.report import markdown, text_table

from bench import api, events, wrk
from tests.conftest import unavailable


async def test_api_and_event_figures_are_produced(tmp_path: Path) -> None:
    if not wrk.available():
        unavailable("wrk is not installed (Debian package wrk; deploy/ci/prerequisites.sh installs it)")
    opts = Options(quick=True, workdir=tmp_path, pg=False)
    server = Server(tmp_path, name="smoke")
    startup = await server.start()
    try:
        bench = api.Bench(opts, server, "sqlite")
        await bench.prepare()
        results, rss = await api.measure(bench, levels=(1, 64), duration_s=1)
        latencies, _ = await events.measure(server.base, changes=5, warmup=1, gap_s=0.0)
    finally:
        server.stop()

    rows = [
        *api._rows("SQLite", results),
        api._rss_row("SQLite", rss),
        events._row("embedded", latencies, 0, 20.0),
    ]
    assert startup > 0
    assert len(rows) == len(api.OPS) * 2 + 2
    for row in rows:
        assert row.value is not None and math.isfinite(row.value) and row.value >= 0, row
        assert row.ceiling is None or row.ceiling > 0, row
    for op in api.OPS:
        app, top = results[(op, 64)]
        assert app.requests > 0 and app.non_2xx == 0 and top.requests > 0, (op, app)
        assert app.cpu_ms is not None and app.cpu_ms > 0, (op, app)
    assert not results[("complete", 64)][0].exhausted
    create_64 = next(r for r in rows if r.figure == "create @64 (SQLite)")
    assert create_64.target and create_64.met is not None and create_64.ratio is not None
    assert len(latencies) == 5 and all(latency >= 0 for latency in latencies)
    table = markdown(rows, header="smoke", notes=[])
    assert "| 1 API | create @64 (SQLite) |" in table and "event latency p99, embedded" in text_table(rows)
