"""deploy/grafana/taskstream.json charts only metrics taskstream exports, and charts (and docs/operations.md
explains) every one of them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from taskstream import metrics
from taskstream.metrics import ProcessFigures

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "deploy/grafana/taskstream.json").read_text())
METRIC = re.compile(r"\btaskstream_[a-z_]+")


def exported() -> set[str]:
    """The sample names of every metric taskstream defines (counters with _total, histograms with _bucket)."""
    names: set[str] = set()
    for collector in vars(metrics).values():
        if isinstance(collector, Counter | Gauge | Histogram):
            for family in collector.describe():
                suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
                names |= {family.name + s for s in suffixes.get(family.type, [""])}
    figures = ProcessFigures()
    figures.outbox, figures.lag = (1, 1.0), {("group", "topic"): 1}
    names |= {family.name for family in figures.collect()}
    return names


def panels() -> list[dict[str, Any]]:
    return [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def charted() -> set[str]:
    return {name for p in panels() for t in p["targets"] for name in METRIC.findall(t["expr"])}


def family(name: str) -> str:
    return re.sub(r"_(total|bucket|count|sum)$", "", name)


def test_the_dashboard_charts_only_exported_metrics() -> None:
    assert charted() - exported() == set()


def test_every_metric_is_charted_and_documented() -> None:
    operations = (ROOT / "docs/operations.md").read_text()
    families = {family(name) for name in exported()}
    assert families - {family(name) for name in charted()} == set()
    assert {f for f in families if f"`{f}" not in operations} == set()


def test_the_dashboard_is_well_formed() -> None:
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    assert DASHBOARD["templating"]["list"][0] == {
        "name": "datasource",
        "type": "datasource",
        "query": "prometheus",
        "label": "Prometheus",
        "current": {},
    }
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)) and refs, panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("[") == expr.count("]"), expr
            assert "histogram_quantile" not in expr or "_bucket" in expr, expr
