"""Large seeds and exports: compact seeded endpoints, background exports past the threshold."""

from __future__ import annotations

import gzip
import json
import threading
import tracemalloc
from typing import Any

import pytest

from airflow_provider_pinpoint.testing import PinpointEmulator, SeedResult, _store


def export_request(seeded: SeedResult, run: str) -> dict[str, Any]:
    return {
        "RoleArn": seeded.role_arn,
        "S3UrlPrefix": f"{seeded.s3_base_prefix}/{run}",
        "SegmentId": seeded.segment_id,
    }


def exported_lines(emu: PinpointEmulator, seeded: SeedResult, run: str) -> list[dict[str, Any]]:
    s3 = emu.client("s3")
    lines = []
    for obj in s3.list_objects_v2(Bucket=seeded.bucket, Prefix=f"exports/{run}/")["Contents"]:
        body = gzip.decompress(s3.get_object(Bucket=seeded.bucket, Key=obj["Key"])["Body"].read())
        lines += [json.loads(line) for line in body.decode().splitlines()]
    return lines


def test_seeded_endpoints_are_compact() -> None:
    store = _store.PinpointStore("us-east-1", "123456789012", clock=lambda: 0.0, sink=None)  # type: ignore[arg-type]
    app = store.add_app("big")
    tracemalloc.start()
    try:
        ids = store.add_demo_endpoints(app.id, 200_000, ("EMAIL", "SMS"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ids) == len(app.endpoints) == 200_000
    assert peak / 200_000 < 300  # bytes per endpoint: an id, not a dict of dicts
    assert store.get_endpoint(app.id, ids[123_456])["Address"] == "user123456@example.com"


def test_a_written_endpoint_keeps_its_place_among_seeded_ones(pinpoint_emulator: PinpointEmulator) -> None:
    seeded = pinpoint_emulator.seed(n_endpoints=4)
    client = pinpoint_emulator.client("pinpoint")
    changed = seeded.endpoint_ids[2]
    client.update_endpoint(
        ApplicationId=seeded.application_id,
        EndpointId=changed,
        EndpointRequest={"Address": "new@example.com"},
    )
    client.update_endpoint(
        ApplicationId=seeded.application_id,
        EndpointId="added",
        EndpointRequest={"ChannelType": "EMAIL", "Address": "a@b.c"},
    )
    job = client.create_export_job(
        ApplicationId=seeded.application_id, ExportJobRequest=export_request(seeded, "w")
    )
    client.get_export_job(ApplicationId=seeded.application_id, JobId=job["ExportJobResponse"]["Id"])
    lines = exported_lines(pinpoint_emulator, seeded, "w")
    assert [line["Id"] for line in lines] == [*seeded.endpoint_ids, "added"]
    assert lines[2]["Address"] == "new@example.com" and lines[2]["User"]["UserId"] == "user-00002"
    endpoint = client.get_endpoint(ApplicationId=seeded.application_id, EndpointId=changed)[
        "EndpointResponse"
    ]
    assert endpoint["Address"] == "new@example.com"


class GatedSink:
    """Passes writes on, but holds the second piece until the test opens the gate."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.puts = 0
        self.holding = threading.Event()
        self.gate = threading.Event()

    def check(self, bucket: str, role_arn: str) -> list[str]:
        return list(self.inner.check(bucket, role_arn))

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.puts += 1
        if self.puts == 2:
            self.holding.set()
            assert self.gate.wait(30)
        self.inner.put(bucket, key, body)


def start_gated_export(
    emu: PinpointEmulator, monkeypatch: pytest.MonkeyPatch
) -> tuple[GatedSink, SeedResult, dict[str, Any]]:
    """A 35-endpoint export in 4 pieces past a threshold of 20, held once its first piece is written."""
    monkeypatch.setattr(_store, "BACKGROUND_EXPORT_THRESHOLD", 20)
    sink = GatedSink(emu.store.sink)
    monkeypatch.setattr(emu.store, "sink", sink)
    emu.piece_size = 10
    seeded = emu.seed(n_endpoints=35)
    created = emu.client("pinpoint").create_export_job(
        ApplicationId=seeded.application_id, ExportJobRequest=export_request(seeded, "bg")
    )["ExportJobResponse"]
    assert sink.holding.wait(30)
    return sink, seeded, created


def test_exports_past_the_threshold_run_in_the_background(
    pinpoint_emulator: PinpointEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, seeded, created = start_gated_export(pinpoint_emulator, monkeypatch)
    client = pinpoint_emulator.client("pinpoint")
    job_id = created["Id"]
    assert created["JobStatus"] == "CREATED"

    for _ in range(2):  # reads never wait for the export, nor report it finished early
        running = client.get_export_job(ApplicationId=seeded.application_id, JobId=job_id)[
            "ExportJobResponse"
        ]
        assert running["JobStatus"] == "COMPLETING"
        assert (running["CompletedPieces"], running["TotalProcessed"], running["TotalPieces"]) == (1, 10, 4)
    sink.gate.set()
    worker = pinpoint_emulator.store.job(seeded.application_id, job_id).worker
    assert worker is not None
    worker.join(30)

    done = client.get_export_job(ApplicationId=seeded.application_id, JobId=job_id)["ExportJobResponse"]
    assert (done["JobStatus"], done["CompletedPieces"], done["TotalProcessed"]) == ("COMPLETED", 4, 35)
    assert [line["Id"] for line in exported_lines(pinpoint_emulator, seeded, "bg")] == list(
        seeded.endpoint_ids
    )


def test_reset_stops_a_background_export(
    pinpoint_emulator: PinpointEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, seeded, created = start_gated_export(pinpoint_emulator, monkeypatch)
    job = pinpoint_emulator.store.job(seeded.application_id, created["Id"])
    pinpoint_emulator.reset()
    sink.gate.set()
    assert job.worker is not None
    job.worker.join(30)
    assert sink.puts == 2  # the held piece, then nothing more
