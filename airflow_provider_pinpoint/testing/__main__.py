"""Command line: ``python -m airflow_provider_pinpoint.testing COMMAND [options]``.

``serve`` starts the emulator (with the start-up faults its flags name), optionally seeds it,
prints one line of JSON describing it to stdout, and serves until SIGTERM or SIGINT, then exits 0;
when it cannot listen it prints one line to stderr and exits 1.

``faults``, ``reset`` and ``jobs`` talk to a running emulator's control API (``/_emulator/``)
given its ``--endpoint-url``: change or show the fault switches, wipe its state, list its export
jobs. Each prints the answer as JSON; an error is one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from airflow_provider_pinpoint.testing._faults import OPERATIONS
from airflow_provider_pinpoint.testing.emulator import PinpointEmulator

PROG = "python -m airflow_provider_pinpoint.testing"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m airflow_provider_pinpoint.testing``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
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
    _add_fault_flags(serve.add_argument_group("start-up faults (change them later with the faults command)"))

    faults = commands.add_parser(
        "faults",
        help="show or change the fault switches of a running emulator",
        description=(
            "Change the fault switches of a running emulator through its control API and print the "
            "resulting switches and counters as JSON. Switches not named keep their value; with no "
            "switch (or --show) it only prints them."
        ),
    )
    _add_endpoint_flag(faults)
    faults.add_argument("--show", action="store_true", help="only print the switches (change nothing)")
    faults.add_argument("--reset", action="store_true", help="turn every fault off first")
    _add_fault_flags(faults)

    reset = commands.add_parser(
        "reset",
        help="wipe a running emulator (Pinpoint, S3 and IAM state, faults, request log)",
        description="Wipe a running emulator's Pinpoint state, moto's S3/IAM state, faults and request log.",
    )
    _add_endpoint_flag(reset)

    jobs = commands.add_parser(
        "jobs",
        help="list a running emulator's export jobs and their states",
        description=(
            "Print a running emulator's export jobs, oldest first, in the state each last reported, "
            "as JSON. Listing never runs an export."
        ),
    )
    _add_endpoint_flag(jobs)
    jobs.add_argument("--application-id", default=None, help="only this application's jobs")
    return parser


def _add_endpoint_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint-url",
        required=True,
        metavar="URL",
        help="the emulator's endpoint_url, e.g. http://127.0.0.1:4566",
    )


def _add_fault_flags(group: Any) -> None:
    group.add_argument(
        "--throttle-rate",
        type=_rate,
        default=None,
        metavar="P",
        help="share (0..1) of requests answering 429",
    )
    group.add_argument(
        "--error-rate", type=_rate, default=None, metavar="P", help="share (0..1) of requests answering 500"
    )
    group.add_argument(
        "--latency", type=_non_negative_float, default=None, metavar="S", help="seconds added to each request"
    )
    group.add_argument(
        "--throttle-burst",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="the next N requests answer 429",
    )
    group.add_argument(
        "--after",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="with --throttle-burst: let N through first",
    )
    group.add_argument(
        "--lose-create-answers",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="the next N CreateExportJob requests start their job, then answer 500",
    )
    group.add_argument(
        "--drop-connection",
        action="store_true",
        help="with --lose-create-answers: close the connection instead of answering 500",
    )
    group.add_argument(
        "--fault-operations",
        nargs="+",
        choices=OPERATIONS,
        default=None,
        metavar="OPERATION",
        help="limit the rates, latency and burst set here to these operations (e.g. GetExportJob)",
    )


def fault_document(args: argparse.Namespace) -> dict[str, Any]:
    """The control API's fault document for the fault flags given on the command line."""
    body: dict[str, Any] = {}
    for name in ("throttle_rate", "error_rate", "latency", "throttle_burst", "after", "lose_create_answers"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.drop_connection:
        body["drop_connection"] = True
    if args.fault_operations is not None:
        body["operations"] = args.fault_operations
    if getattr(args, "reset", False):
        body["reset"] = True
    return body


def serve(args: argparse.Namespace) -> int:
    """Run the ``serve`` command; returns the exit code."""
    from airflow_provider_pinpoint.testing._control import ControlError, apply_faults

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
    try:
        apply_faults(emulator.faults, fault_document(args))
    except ControlError as exc:
        return _fail(f"serve: {exc.message}", code=2)
    try:
        emulator.start()
    except OSError as exc:
        return _fail(f"serve: {exc.strerror or exc}")
    except ImportError as exc:
        return _fail(f"serve: {exc}")
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


def control(args: argparse.Namespace) -> int:
    """Run ``faults``, ``reset`` or ``jobs`` against a running emulator; returns the exit code."""
    base = args.endpoint_url.rstrip("/") + "/_emulator"
    body: dict[str, Any] | None = None
    if args.command == "faults":
        document = fault_document(args)
        if args.show and document:
            return _fail("faults: --show changes nothing: leave out the other flags", code=2)
        url, body = f"{base}/faults", (document or None)
    elif args.command == "reset":
        url, body = f"{base}/reset", {}
    else:
        query = {"application_id": args.application_id} if args.application_id else {}
        url = f"{base}/jobs" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    try:
        answer = call_control(url, body)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _fail(f"{args.command}: {_reason(exc, url)}")
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


def call_control(url: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    """GET ``url`` (or POST ``body`` as JSON) on a control API, never through a proxy; the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return control(args)


def _reason(exc: BaseException, url: str) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        try:
            detail = json.loads(exc.read()).get("error", "")
        except ValueError:
            detail = ""
        return f"{url} answered {exc.code}: {detail or exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot reach {url}: {exc.reason}"
    return f"cannot reach {url}: {exc}"


def _fail(message: str, code: int = 1) -> int:
    sys.stderr.write(f"{PROG} {message}\n")
    return code


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be a number from 0 to 1")
    return value


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
