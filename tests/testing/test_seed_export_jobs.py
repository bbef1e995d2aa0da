"""Seeded export-job histories: listed like any other job, never exported, paged without rescans."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from airflow_provider_pinpoint.testing import PinpointEmulator, SeedResult
from airflow_provider_pinpoint.testing._store import PinpointStore


@pytest.fixture
def seeded(pinpoint_emulator: PinpointEmulator) -> SeedResult:
    return pinpoint_emulator.seed(n_endpoints=5)


def list_all(client: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    """Every job of a GetSegmentExportJobs listing, and the number of pages it took."""
    jobs: list[dict[str, Any]] = []
    pages = 0
    token = None
    while True:
        page = client.get_segment_export_jobs(**kwargs, **({"Token": token} if token else {}))
        pages += 1
        jobs += page["ExportJobsResponse"]["Item"]
        token = page["ExportJobsResponse"].get("NextToken")
        if not token:
            return jobs, pages


def bucket_keys(emulator: PinpointEmulator, bucket: str) -> list[str]:
    return [obj["Key"] for obj in emulator.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_seeded_jobs_are_listed_across_pages_and_never_exported(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult
) -> None:
    ids = pinpoint_emulator.seed_export_jobs(seeded.application_id, seeded.segment_id, 45)
    client = pinpoint_emulator.client("pinpoint")
    where = {"ApplicationId": seeded.application_id, "SegmentId": seeded.segment_id}

    jobs, pages = list_all(client, **where, PageSize="10")
    assert pages == 5 and pinpoint_emulator.calls("GetSegmentExportJobs") == 5
    assert [job["Id"] for job in jobs] == sorted(ids)
    default_jobs, default_pages = list_all(client, **where)
    assert default_pages == 3 and len(default_jobs) == 45
    assert {job["JobStatus"] for job in jobs} == {"COMPLETED"}
    job = client.get_export_job(ApplicationId=seeded.application_id, JobId=ids[0])["ExportJobResponse"]
    assert job["Definition"] == {
        "RoleArn": seeded.role_arn,
        "S3UrlPrefix": "s3://pinpoint-exports/exports/history",
        "SegmentId": seeded.segment_id,
    }
    assert job["CreationDate"] <= job["CompletionDate"]
    assert (job["CompletedPieces"], job["TotalPieces"], job["FailedPieces"]) == (1, 1, 0)
    everything = client.get_export_jobs(ApplicationId=seeded.application_id, PageSize="100")
    assert len(everything["ExportJobsResponse"]["Item"]) == 45
    assert bucket_keys(pinpoint_emulator, seeded.bucket) == []


def test_a_job_created_after_the_history_is_the_newest(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult
) -> None:
    history = pinpoint_emulator.seed_export_jobs(seeded.application_id, seeded.segment_id, 30)
    client = pinpoint_emulator.client("pinpoint")
    created = client.create_export_job(
        ApplicationId=seeded.application_id,
        ExportJobRequest={
            "RoleArn": seeded.role_arn,
            "S3UrlPrefix": f"{seeded.s3_base_prefix}/new",
            "SegmentId": seeded.segment_id,
        },
    )["ExportJobResponse"]
    jobs, _ = list_all(client, ApplicationId=seeded.application_id, SegmentId=seeded.segment_id)
    by_date = sorted(jobs, key=lambda job: job["CreationDate"])
    assert [job["Id"] for job in by_date[:-1]] == history
    assert by_date[-1]["Id"] == created["Id"]
    keys = bucket_keys(pinpoint_emulator, seeded.bucket)
    folder = f"exports/new/{seeded.application_id}/{created['Id']}/"
    assert keys and all(key.startswith(folder) for key in keys)
    body = pinpoint_emulator.client("s3").get_object(Bucket=seeded.bucket, Key=keys[0])["Body"].read()
    lines = gzip.decompress(body).decode("utf-8").splitlines()
    assert len([json.loads(line) for line in lines]) == 5, "the one real export holds the segment's endpoints"


def test_seeded_jobs_stay_in_their_segment(pinpoint_emulator: PinpointEmulator, seeded: SeedResult) -> None:
    other = pinpoint_emulator.store.add_segment(seeded.application_id, "other").id
    pinpoint_emulator.seed_export_jobs(seeded.application_id, other, 7)
    mine = pinpoint_emulator.seed_export_jobs(seeded.application_id, seeded.segment_id, 3)
    client = pinpoint_emulator.client("pinpoint")
    jobs, _ = list_all(client, ApplicationId=seeded.application_id, SegmentId=seeded.segment_id)
    assert sorted(job["Id"] for job in jobs) == sorted(mine)
    with pytest.raises(ValueError, match="negative"):
        pinpoint_emulator.seed_export_jobs(seeded.application_id, seeded.segment_id, -1)


class CountingSink:
    """An export sink that counts what it is asked to do."""

    def __init__(self) -> None:
        self.checks = 0
        self.puts = 0

    def check(self, bucket: str, role_arn: str) -> list[str]:
        self.checks += 1
        return []

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.puts += 1


class NoScanJobs(dict):  # type: ignore[type-arg]
    """An application's jobs that refuse to be iterated: a listing must find its page without a scan."""

    def values(self) -> Any:
        raise AssertionError("the listing scanned every job")

    items = keys = __iter__ = values


def test_a_100000_job_history_lists_in_1000_pages_without_rescanning() -> None:
    sink = CountingSink()
    store = PinpointStore("us-east-1", "123456789012", clock=lambda: 1_800_000_000.0, sink=sink)
    app = store.add_app("history")
    segment = store.add_segment(app.id, "all")
    role = "arn:aws:iam::123456789012:role/export"
    ids = store.add_export_jobs(app.id, segment.id, 100_000, role, "s3://bucket/history")
    app.jobs = NoScanJobs(app.jobs)
    rendered = 0
    render = store._render

    def counting_render(job: Any, advance_script: bool) -> dict[str, Any]:
        nonlocal rendered
        rendered += 1
        return render(job, advance_script)

    store._render = counting_render  # type: ignore[method-assign]
    listed: list[str] = []
    pages = 0
    token = None
    while True:
        page = store.get_segment_export_jobs(app.id, segment.id, "100", token)
        pages += 1
        listed += [job["Id"] for job in page["Item"]]
        token = page.get("NextToken")
        if token is None:
            break
    assert pages == 1000
    assert listed == sorted(ids) and len(set(listed)) == 100_000
    assert rendered == 100_000, "each job is read once over the whole listing"
    assert (sink.checks, sink.puts) == (0, 0), "listing never runs a seeded job's export"
