"""The emulator itself: seeding and exporting 10,000 / 100,000 / 1,000,000 endpoints.

Each run of each size gets a fresh emulator process: ``seed`` (timed inside that process), then one export
job over HTTP from this process with a boto3 client that waits as long as it takes (the export runs
inside the first GetExportJob that reaches COMPLETING). Reported: seconds and endpoints/s of each
step, the emulator's peak RSS (VmHWM) and the longest single request. Comparators: botocore's
default read timeout (60 s) for the longest request, and the smallest size's figures for the rest,
so the ratios show how the costs scale. Figures are the median of 3 runs.
"""

from __future__ import annotations

import time
from typing import Any

from . import _emulator
from ._common import MIB, chart, main, median, row

READ_TIMEOUT = 60.0  # botocore's default read_timeout


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
        return {
            "seed_s": seed_seconds,
            "export_s": export_seconds,
            "peak_rss_mib": emulator.call(_emulator.peak_rss) / MIB,
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
        rows += [
            row(
                f"{where}: seeding, seconds",
                m["seed_s"],
                "s",
                f"{base}, scaled",
                smallest["seed_s"] * n / sizes[0],
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
                f"{where}: longest single request",
                m["longest_request_s"],
                "s",
                "botocore's default read timeout",
                READ_TIMEOUT,
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
