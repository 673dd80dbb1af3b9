"""The results table as aligned text and as Markdown, the machine description, and the docs update."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Row

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
COLUMNS = ("benchmark", "figure", "value", "target", "ceiling (same run)", "ratio", "met?")


def machine() -> str:
    """nproc, CPU model and RAM of this machine (from /proc)."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        ram = f"{kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        ram = "RAM unknown"
    return f"{os.cpu_count()} CPUs ({model}), {ram}"


def _number(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit in ("req/s", "events/s"):
        return f"{value:,.0f} {unit}"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.2f} {unit}".strip() if abs(value) < 10 else f"{value:.1f} {unit}".strip()


def cells(row: Row) -> list[str]:
    """The table cells of one row."""
    value = _number(row.value, row.unit)
    if row.detail:
        value += f" ({row.detail})"
    ratio = f"{row.ratio:.0%}" if row.ratio is not None else ""
    met = {True: "yes", False: "NO", None: ""}[row.met]
    ceiling = _number(row.ceiling, row.unit) if row.ceiling is not None else ""
    return [row.bench, row.figure, value, row.target, ceiling, ratio, met]


def text_table(rows: list[Row]) -> str:
    """Aligned plain-text table for the terminal."""
    table = [list(COLUMNS), *(cells(r) for r in rows)]
    widths = [min(max(len(line[i]) for line in table), 80) for i in range(len(COLUMNS))]
    out = []
    for index, line in enumerate(table):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    notes = [f"- {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join([*out, *(["", *notes] if notes else [])])


def markdown(rows: list[Row], *, header: str, notes: list[str]) -> str:
    """The table in Markdown, with the run's header line and notes."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Run {stamp} · {header}", ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells(row)) + " |")
    all_notes = [*notes, *(f"{r.figure}: {r.note}" for r in rows if r.note)]
    if all_notes:
        lines += ["", *(f"- {n}" for n in all_notes)]
    return "\n".join(lines)


def write_doc(path: Path, table: str) -> None:
    """Replace the text between the results markers of `path` (appended when the markers are missing)."""
    block = f"{START}\n{table}\n{END}"
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
