"""Reading an export: PinpointHook.iter_exported_endpoints against a plain boto3 loop and local files.

The emulator (in its own process) exports 100,000 and 1,000,000 endpoints to its S3 as gzip
NDJSON pieces of 1,000. Each reader then runs in a fresh process and counts every record:

- ``iter_exported_endpoints(prefix)``, through the Amazon provider's S3Hook;
- the loop a user would write: ``list_objects_v2`` pages, ``get_object``, ``gzip.decompress``,
  ``json.loads`` per line;
- the same files downloaded once beforehand, read with ``gzip.open`` and ``json.loads`` per line.

Memory growth is the reader's peak RSS while reading minus its RSS before the first record.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import _emulator
from ._common import (
    MIB,
    chart,
    cpu_seconds,
    emulator_environment,
    main,
    median,
    proc_status,
    quiet_airflow_home,
    row,
)

HOOK = "iter_exported_endpoints"
BOTO3 = "plain boto3 loop"
LOCAL = "local gzip files"


def run(quick: bool) -> dict[str, Any]:
    sizes = [10_000] if quick else [100_000, 1_000_000]
    runs = 1 if quick else 3
    measured: dict[str, dict[int, dict[str, float]]] = {HOOK: {}, BOTO3: {}, LOCAL: {}}
    quiet_airflow_home()
    with _emulator.EmulatorProcess(step_seconds=0.0) as emulator, tempfile.TemporaryDirectory() as local:
        os.environ.update(emulator_environment(emulator.conn_uri, emulator.region_name))
        for n in sizes:
            seeded = emulator.call(_emulator.seed, n)
            prefix = emulator.call(_emulator.export_now, seeded, f"{seeded['s3_base_prefix']}/n{n}")
            folder = Path(local) / str(n)
            _download(emulator.endpoint_url, prefix, folder)
            for reader in measured:
                samples = [
                    _in_own_process(reader, prefix, str(folder), emulator.endpoint_url) for _ in range(runs)
                ]
                if any(s["records"] != n for s in samples):
                    raise RuntimeError(f"{reader} read {[s['records'] for s in samples]} records, not {n}")
                measured[reader][n] = {
                    "records_per_s": median([s["records"] / s["seconds"] for s in samples]),
                    "memory_growth_mib": median([s["growth"] for s in samples]) / MIB,
                    "cpu_s": median([s["cpu"] for s in samples]),
                }
    rows = []
    for n in sizes:
        ours = measured[HOOK][n]
        for other in (BOTO3, LOCAL):
            theirs = measured[other][n]
            where = f"{n:,} endpoints: {HOOK}"
            rows.append(
                row(f"{where}: records/s", ours["records_per_s"], "records/s", other, theirs["records_per_s"])
            )
            rows.append(
                row(
                    f"{where}: memory growth",
                    ours["memory_growth_mib"],
                    "MiB",
                    other,
                    theirs["memory_growth_mib"],
                )
            )
            rows.append(row(f"{where}: CPU seconds", ours["cpu_s"], "s", other, theirs["cpu_s"]))
    return {
        "rows": rows,
        "raw": measured,
        "charts": [
            chart(
                "read_export.png",
                "Reading an export: records per second",
                [f"{n:,}" for n in sizes],
                {reader: [measured[reader][n]["records_per_s"] for n in sizes] for reader in measured},
                xlabel="endpoints in the export",
                ylabel="records/s",
                kind="bar",
            )
        ],
    }


def _download(endpoint_url: str, prefix: str, folder: Path) -> None:
    import boto3

    s3 = boto3.session.Session().client("s3", endpoint_url=endpoint_url)
    bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
    folder.mkdir(parents=True)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix + "/"):
        for item in page.get("Contents", []):
            s3.download_file(bucket, item["Key"], str(folder / Path(item["Key"]).name))


def _in_own_process(reader: str, prefix: str, folder: str, endpoint_url: str) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_read, (reader, prefix, folder, endpoint_url))


def _read(reader: str, prefix: str, folder: str, endpoint_url: str) -> dict[str, Any]:
    """Count the records with one reader; its seconds, CPU seconds and memory growth."""
    if reader == HOOK:
        from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook

        hook = PinpointHook(aws_conn_id="aws_default")
        hook.list_export_files(prefix)  # warm up: the S3 client is built

        def records() -> Iterator[dict[str, Any]]:
            return hook.iter_exported_endpoints(prefix)
    elif reader == BOTO3:
        import boto3

        s3 = boto3.session.Session().client("s3", endpoint_url=endpoint_url)
        s3.list_buckets()  # warm up: the client has made a request

        def records() -> Iterator[dict[str, Any]]:
            return _boto3_records(s3, prefix)
    else:

        def records() -> Iterator[dict[str, Any]]:
            return _local_records(Path(folder))

    baseline = proc_status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # start VmHWM again from the current RSS
    start, cpu = time.perf_counter(), cpu_seconds()
    count = sum(1 for _ in records())
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return {
        "records": count,
        "seconds": seconds,
        "cpu": cpu,
        "growth": proc_status("VmHWM") - baseline,
    }


def _boto3_records(s3: Any, prefix: str) -> Iterator[dict[str, Any]]:
    bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix + "/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for line in gzip.decompress(body).splitlines():
                yield json.loads(line)


def _local_records(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.iterdir()):
        with gzip.open(path, "rb") as lines:
            for line in lines:
                yield json.loads(line)


if __name__ == "__main__":
    main(run)
