"""Command line: ``python -m airflow_provider_pinpoint.testing serve [options]``.

``serve`` starts the emulator, optionally seeds it, prints one line of JSON describing it to
stdout, and serves until SIGTERM or SIGINT, then exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from airflow_provider_pinpoint.testing.emulator import PinpointEmulator


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m airflow_provider_pinpoint.testing``."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_pinpoint.testing",
        description="Local Amazon Pinpoint emulator (apps, endpoints, segments, export jobs) plus moto.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the emulator until SIGTERM/SIGINT",
        description=(
            "Start the emulator and print one line of JSON (endpoint_url, region_name, "
            "airflow_conn_aws_default and, when seeded, application_id, segment_id, bucket, role_arn, "
            "s3_base_prefix, endpoints) to stdout, then serve until SIGTERM or SIGINT."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port", type=_port, default=0, help="port to listen on; 0 picks a free one (default)"
    )
    serve.add_argument("--region", default="us-east-1", help="region name (default: %(default)s)")
    serve.add_argument(
        "--seed-endpoints",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="create a bucket, an export role, an application with N endpoints and an all-endpoints segment",
    )
    serve.add_argument(
        "--step-seconds",
        type=_non_negative_float,
        default=1.0,
        metavar="S",
        help="seconds an export job spends in each state (default: %(default)s)",
    )
    serve.add_argument(
        "--piece-size",
        type=_positive_int,
        default=1000,
        metavar="K",
        help="endpoints per exported file (default: %(default)s)",
    )
    serve.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a self-signed certificate made at start; its path is printed as ca_bundle",
    )
    return parser


def serve(args: argparse.Namespace) -> int:
    """Run the ``serve`` command; returns the exit code."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator = PinpointEmulator(
        port=args.port,
        step_seconds=args.step_seconds,
        piece_size=args.piece_size,
        region_name=args.region,
        host=args.host,
        tls=args.tls,
    )
    with emulator:
        info: dict[str, Any] = {"endpoint_url": emulator.endpoint_url, "region_name": emulator.region_name}
        if emulator.ca_bundle:
            info["ca_bundle"] = emulator.ca_bundle
        if args.seed_endpoints is not None:
            seeded = emulator.seed(n_endpoints=args.seed_endpoints)
            info.update(
                application_id=seeded.application_id,
                segment_id=seeded.segment_id,
                bucket=seeded.bucket,
                role_arn=seeded.role_arn,
                s3_base_prefix=seeded.s3_base_prefix,
                endpoints=len(seeded.endpoint_ids),
            )
        info["airflow_conn_aws_default"] = emulator.airflow_conn_uri
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2  # pragma: no cover - argparse rejects other commands


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError("must be a finite number, 0 or more")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be from 0 to 65535")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


if __name__ == "__main__":
    sys.exit(main())
