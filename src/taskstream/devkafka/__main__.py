"""`python -m taskstream.devkafka start|stop|status|fetch`, the dev broker's command (deploy/local/kafka)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from taskstream.devkafka.broker import KafkaBroker, default_data_dir
from taskstream.devkafka.jars import BrokerError, ensure_jars, kafka_version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploy/local/kafka",
        description=f"A single-node Apache Kafka {kafka_version()} broker (KRaft) with its log on disk.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    data_help = f"data directory (default {default_data_dir()})"
    start = commands.add_parser(
        "start", help="start in the background; prints HOST:PORT as the last line once it answers"
    )
    start.add_argument("--port", type=int, help="client port (default: this DIR's last port, else 9092)")
    start.add_argument("--data", type=Path, default=default_data_dir(), help=data_help)
    start.add_argument("--heap", default="512m", help="maximum JVM heap (default 512m)")
    stop = commands.add_parser("stop", help="stop the broker of DIR (its log is kept)")
    stop.add_argument("--data", type=Path, default=default_data_dir(), help=data_help)
    status = commands.add_parser("status", help="exit 0 and print where it listens if it runs, else exit 3")
    status.add_argument("--data", type=Path, default=default_data_dir(), help=data_help)
    commands.add_parser("fetch", help="resolve the jars from Maven Central (once) and print their directory")
    args = parser.parse_args(argv)

    try:
        if args.command == "fetch":
            print(ensure_jars(quiet=False))
            return 0
        broker = KafkaBroker(args.data, port=getattr(args, "port", None), heap=getattr(args, "heap", "512m"))
        if args.command == "start":
            if broker.running:
                running = KafkaBroker(args.data)  # on the port it was started with
                if args.port is not None and args.port != running.port:
                    raise BrokerError(f"a broker already runs on {broker.data_dir} at {running.bootstrap}")
                broker = running
                print(f"already running (pid {broker.pid}) on {broker.data_dir}", file=sys.stderr)
            else:
                print(f"starting Apache Kafka {kafka_version()} on {broker.data_dir}", file=sys.stderr)
                if broker.cluster_id() and not (broker.log_dir / ".kafka_cleanshutdown").exists():
                    print("its last run did not stop cleanly: it checks its log first", file=sys.stderr)
                broker.start()
                print(f"ready (pid {broker.pid}, cluster {broker.cluster_id()})", file=sys.stderr)
            print(broker.bootstrap)
            return 0
        if args.command == "stop":
            if not broker.running:
                print(f"no broker runs on {broker.data_dir}", file=sys.stderr)
                return 0
            broker.stop()
            print(f"stopped; the log stays in {broker.log_dir}", file=sys.stderr)
            return 0
        if broker.running:
            print(f"running (pid {broker.pid}, cluster {broker.cluster_id()}) on {broker.data_dir}")
            print(broker.bootstrap)
            return 0
        print(f"not running (data {broker.data_dir})")
        return 3
    except BrokerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
