"""`python -m taskstream.devdapr build|path`, the command behind deploy/local/dapr."""

from __future__ import annotations

import argparse
import sys

from taskstream.devdapr.build import DAPR_VERSION, DaprUnavailable, binaries, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploy/local/dapr",
        description=f"daprd and the Dapr scheduler {DAPR_VERSION}, built from source.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build them once (Go and the module proxy); prints their directory")
    commands.add_parser("path", help="print their directory; exit 3 when they are not built yet")
    args = parser.parse_args(argv)
    try:
        built = build() if args.command == "build" else binaries()
    except DaprUnavailable as error:
        print(error, file=sys.stderr)
        return 3 if args.command == "path" else 1
    print(built.daprd.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
