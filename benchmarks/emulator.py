"""The emulator itself: seeding and exporting 10,000 / 100,000 / 1,000,000 endpoints.

Each run of each size gets a fresh emulator process: ``seed`` (timed inside that process), then one export
job over HTTP from this process with a boto3 client, polling until COMPLETED (exports past 100,000
endpoints run in the background), then ``serve --seed-endpoints`` in a process of its own, timed to
its JSON line. Reported: seconds and endpoints/s of each step, the emulator's peak RSS (VmHWM)
and the longest single request, with the goals at 1,000,000 endpoints. Comparators: botocore's
default read timeout (60 s) for the longest request, and the smallest size's figures for the rest,
so the ratios show how the costs scale. Figures are the median of 3 runs.
"""

from __future__ import annotations

import time
from typing import Any

from . import _emulator
from ._common import MIB, chart, main, median, row

READ_TIMEOUT = 60.0  # botocore's default read_timeout
#: Goals at the largest size: seed, serve to its JSON line, export (s); peak RSS (MiB); one request (s).
GOALS = {"seed_s": 10.0, "serve_s": 15.0, "export_s": 30.0, "peak_rss_mib": 1024.0, "longest_request_s": 2.0}


def _serve_seconds(n: int) -> float:
    """Seconds from starting ``serve --seed-endpoints n`` to its JSON line on stdout."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "airflow_provider_pinpoint.testing", "serve", "--seed-endpoints", str(n)]
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as server:
        assert server.stdout is not None
        line = server.stdout.readline()
        seconds = time.perf_counter() - start
        server.terminate()
        server.wait(timeout=60)
    if not line.startswith(b"{"):
        raise RuntimeError(f"serve --seed-endpoints {n} printed no JSON line")
    return seconds


def _measure(n: int) -> dict[str, float]:
    """Seed and export ``n`` endpoints in a fresh emulator process."""
    import boto3
    from botocore.config import Config

    with _emulator.EmulatorProcess(step_seconds=0.0) as emulator:
        seed_seconds, seeded = emulator.call(_emulator.seed_timed, n)
        pinpoint = boto3.session.Session().client(
            "pinpoint",
            endpoint_url=emulator.endpoint_url,
            region_name=emulator.region_name,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(read_timeout=3600, retries={"total_max_attempts": 1}),
        )
        start = time.perf_counter()
        job = pinpoint.create_export_job(
            ApplicationId=seeded["application_id"],
            ExportJobRequest={
                "RoleArn": seeded["role_arn"],
                "S3UrlPrefix": seeded["s3_base_prefix"],
                "SegmentId": seeded["segment_id"],
            },
        )["ExportJobResponse"]
        durations = [time.perf_counter() - start]
        while job["JobStatus"] not in ("COMPLETED", "FAILED"):
            asked = time.perf_counter()
            job = pinpoint.get_export_job(ApplicationId=seeded["application_id"], JobId=job["Id"])
            job = job["ExportJobResponse"]
            durations.append(time.perf_counter() - asked)
        export_seconds = time.perf_counter() - start
        if job["JobStatus"] != "COMPLETED":
            raise RuntimeError(f"the export of {n} endpoints ended {job['JobStatus']}")
        peak_rss_mib = emulator.call(_emulator.peak_rss) / MIB
    return {
        "seed_s": seed_seconds,
        "serve_s": _serve_seconds(n),
        "export_s": export_seconds,
        "peak_rss_mib": peak_rss_mib,
        "longest_request_s": max(durations),
    }


def run(quick: bool) -> dict[str, Any]:
    sizes = [10_000] if quick else [10_000, 100_000, 1_000_000]
    runs = 1 if quick else 3
    measured: dict[int, dict[str, float]] = {}
    for n in sizes:
        samples = [_measure(n) for _ in range(runs)]
        measured[n] = {key: median([sample[key] for sample in samples]) for key in samples[0]}
    smallest = measured[sizes[0]]
    base = f"at {sizes[0]:,} endpoints"
    rows = []
    for n in sizes:
        m = measured[n]
        where = f"{n:,} endpoints"

        def goal(key: str, unit: str, n: int = n, m: dict[str, float] = m) -> dict[str, Any]:
            if quick or n != sizes[-1]:
                return {}
            return {"goal": f"<= {GOALS[key]:g} {unit}", "met": m[key] <= GOALS[key]}

        rows += [
            row(
                f"{where}: seeding, seconds",
                m["seed_s"],
                "s",
                f"{base}, scaled",
                smallest["seed_s"] * n / sizes[0],
                **goal("seed_s", "s"),
            ),
            row(
                f"{where}: serve --seed-endpoints to its JSON line, seconds",
                m["serve_s"],
                "s",
                "seeding in-process at the same size",
                m["seed_s"],
                **goal("serve_s", "s"),
            ),
            row(
                f"{where}: seeding, endpoints/s",
                n / m["seed_s"],
                "endpoints/s",
                base,
                sizes[0] / smallest["seed_s"],
            ),
            row(
                f"{where}: export, seconds",
                m["export_s"],
                "s",
                f"{base}, scaled",
                smallest["export_s"] * n / sizes[0],
                **goal("export_s", "s"),
            ),
            row(
                f"{where}: export, endpoints/s",
                n / m["export_s"],
                "endpoints/s",
                base,
                sizes[0] / smallest["export_s"],
            ),
            row(
                f"{where}: peak RSS per endpoint",
                m["peak_rss_mib"] * 1024 / n,
                "KiB",
                base,
                smallest["peak_rss_mib"] * 1024 / sizes[0],
                note=f"peak RSS {m['peak_rss_mib']:,.0f} MiB",
            ),
            row(
                f"{where}: peak RSS (VmHWM) over seeding and export",
                m["peak_rss_mib"],
                "MiB",
                base,
                smallest["peak_rss_mib"],
                **goal("peak_rss_mib", "MiB"),
            ),
            row(
                f"{where}: longest single request",
                m["longest_request_s"],
                "s",
                "botocore's default read timeout",
                READ_TIMEOUT,
                **goal("longest_request_s", "s"),
            ),
        ]
    return {
        "rows": rows,
        "raw": measured,
        "charts": [
            chart(
                "emulator.png",
                "Emulator: seconds to seed and to export",
                sizes,
                {
                    "seed": [measured[n]["seed_s"] for n in sizes],
                    "export": [measured[n]["export_s"] for n in sizes],
                    "longest request": [measured[n]["longest_request_s"] for n in sizes],
                },
                xlabel="endpoints",
                ylabel="seconds",
                log=True,
            )
        ],
    }


if __name__ == "__main__":
    main(run)
