"""`python -m bench [--quick] [--only NAME ...] [--write docs/benchmarks.md]`.

Runs the benchmarks of docs/benchmarks.md, each bounded in time, and prints one table
(figure, value, target, ceiling, ratio, met?)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import Options, Row, pg_available
from bench.report import machine, markdown, text_table, write_doc

BENCHMARKS = {  # name → module with `async def run(opts) -> list[Row]`
    "api": "bench.api",  # 1 and 6
    "events": "bench.events",  # 2
    "search": "bench.search",  # 3
    "reminders": "bench.reminders",  # 4
    "relay": "bench.relay",  # 5
    "tracing": "bench.tracing",  # 7
    "soak": "bench.soak",  # 8
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and short windows (~2 min)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--no-postgres", action="store_true", help="skip every PostgreSQL figure")
    parser.add_argument("--write", type=Path, help="also write the results into this Markdown file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return parser.parse_args(argv)


async def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="taskstream-bench-"))
    pg = not args.no_postgres and await pg_available()
    opts = Options(quick=args.quick, workdir=workdir, pg=pg)
    if not pg:
        opts.notes.append("PostgreSQL not reachable (or --no-postgres): PostgreSQL figures skipped")
    rows: list[Row] = []
    started = time.perf_counter()
    failures = 0
    for name in args.only or list(BENCHMARKS):
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(BENCHMARKS[name])
            rows += await module.run(opts)
        except Exception:
            failures += 1
            traceback.print_exc()
            rows.append(Row(name, f"{name}: FAILED (see the log above)", None, "", met=False))
        print(f"== {name} took {time.perf_counter() - t0:.0f} s", flush=True)
    elapsed = time.perf_counter() - started
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    mode = "quick" if args.quick else "default"
    header = f"mode {mode} · {elapsed / 60:.1f} min · {machine()} · Python {platform.python_version()}"
    print()
    print(text_table(rows))
    print()
    print("## Markdown")
    print()
    md = markdown(rows, header=header, notes=opts.notes)
    print(md)
    if args.write:
        write_doc(args.write, md)
        print(f"written into {args.write}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
