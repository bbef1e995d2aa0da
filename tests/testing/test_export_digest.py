"""The records an export writes stay the same for the same seed, whatever the encoding does."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator

import pytest

from airflow_provider_pinpoint.testing import PinpointEmulator

# Keys and decompressed content of the first export of a 10,000-endpoint seed (seed 0).
EXPORT_DIGEST = "d2fd6939e177930f95938427d9dada7453f39ace6631581b748f22cd39894636"
CLOCK = 1_795_000_000.0  # a fixed clock: CreationDate and EffectiveDate are part of the records


@pytest.fixture
def fixed_clock_emulator() -> Iterator[PinpointEmulator]:
    emulator = PinpointEmulator(step_seconds=0.0, seed=0, clock=lambda: CLOCK).start()
    try:
        emulator.reset()
        yield emulator
    finally:
        emulator.stop()


def export_digest(emulator: PinpointEmulator) -> tuple[str, int, int]:
    """Export the seeded segment once; digest every key and its decompressed content, in key order."""
    seeded = emulator.seed(n_endpoints=10_000)
    pinpoint = emulator.client("pinpoint")
    job = pinpoint.create_export_job(
        ApplicationId=seeded.application_id,
        ExportJobRequest={
            "RoleArn": seeded.role_arn,
            "S3UrlPrefix": seeded.s3_base_prefix,
            "SegmentId": seeded.segment_id,
        },
    )["ExportJobResponse"]
    done = pinpoint.get_export_job(ApplicationId=seeded.application_id, JobId=job["Id"])
    assert done["ExportJobResponse"]["JobStatus"] == "COMPLETED"
    s3 = emulator.client("s3")
    digest = hashlib.sha256()
    keys = lines = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=seeded.bucket, Prefix="exports/"):
        for obj in page.get("Contents", []):  # listed in key order
            body = gzip.decompress(s3.get_object(Bucket=seeded.bucket, Key=obj["Key"])["Body"].read())
            digest.update(obj["Key"].encode() + b"\n" + body)
            keys += 1
            lines += body.count(b"\n")
    return digest.hexdigest(), keys, lines


def test_export_records_are_unchanged_for_the_same_seed(fixed_clock_emulator: PinpointEmulator) -> None:
    assert export_digest(fixed_clock_emulator) == (EXPORT_DIGEST, 10, 10_000)
