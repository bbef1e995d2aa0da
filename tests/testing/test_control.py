"""The control API under ``/_emulator/``: fault switches per operation, lost answers, reset, job states."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError

from airflow_provider_pinpoint.hooks.pinpoint import PinpointTransientError
from airflow_provider_pinpoint.testing import PinpointEmulator, SeedResult
from airflow_provider_pinpoint.testing.__main__ import call_control
from tests.factories import FakeTaskInstance, make_operator, pushed, start_export

NO_RETRIES = Config(retries={"total_max_attempts": 1})
READS = ["GetExportJob", "GetSegmentExportJobs"]


@pytest.fixture
def seeded(pinpoint_emulator: PinpointEmulator) -> SeedResult:
    return pinpoint_emulator.seed(n_endpoints=5)


def create(client: Any, seeded: SeedResult, prefix: str) -> dict[str, Any]:
    """CreateExportJob of the seeded segment through ``client`` (whose retries the test chose)."""
    request = {"RoleArn": seeded.role_arn, "S3UrlPrefix": prefix, "SegmentId": seeded.segment_id}
    return client.create_export_job(ApplicationId=seeded.application_id, ExportJobRequest=request)[
        "ExportJobResponse"
    ]


def control(emu: PinpointEmulator, path: str, body: dict[str, Any] | None = None) -> Any:
    return call_control(f"{emu.control_url}{path}", body)


def post(url: str, data: bytes) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, data=data, method="POST"), timeout=10) as response:
        return json.loads(response.read())


def refused(
    emu: PinpointEmulator, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    with pytest.raises(urllib.error.HTTPError) as caught:
        control(emu, path, body)
    return caught.value.code, json.loads(caught.value.read())


def test_faults_are_read_and_set_over_http(pinpoint_emulator: PinpointEmulator) -> None:
    emu = pinpoint_emulator
    state = control(emu, "/faults")
    assert state["throttle_rate"] == 0 and state["throttle_operations"] is None and state["injected"] == 0
    state = control(emu, "/faults", {"throttle_rate": 0.25, "latency": 0.01, "operations": READS})
    assert (state["throttle_rate"], state["throttle_operations"]) == (0.25, sorted(READS))
    assert (state["latency"], state["latency_operations"]) == (0.01, sorted(READS))
    assert emu.faults.throttle_rate == 0.25 and emu.faults.latency_for("CreateExportJob") == 0
    state = control(emu, "/faults", {"error_rate": 0.5, "error_operations": ["GetApp"]})
    assert (state["error_rate"], state["error_operations"], state["throttle_rate"]) == (0.5, ["GetApp"], 0.25)
    state = control(emu, "/faults", {"throttle_burst": 2, "after": 1, "lose_create_answers": 1})
    assert (state["throttle_burst"], state["after"], state["lose_create_answers"]) == (2, 1, 1)
    assert control(emu, "/faults", {"reset": True}) == control(emu, "/faults") == {**state, **_off()}


def _off() -> dict[str, Any]:
    return {
        "throttle_rate": 0.0,
        "throttle_operations": None,
        "error_rate": 0.0,
        "error_operations": None,
        "latency": 0.0,
        "latency_operations": None,
        "throttle_burst": 0,
        "after": 0,
        "burst_operations": None,
        "lose_create_answers": 0,
        "drop_connection": False,
    }


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ({"throttle_rate": 2}, "throttle_rate", 2),
        ({"error_rate": "high"}, "error_rate", "high"),
        ({"latency": -1}, "latency", -1),
        ({"throttle_burst": 1.5}, "throttle_burst", 1.5),
        ({"lose_create_answers": -1}, "lose_create_answers", -1),
        (
            {"operations": ["GetExportJob", "Nope"], "throttle_rate": 1},
            "operations",
            ["GetExportJob", "Nope"],
        ),
        ({"operations": "GetExportJob"}, "operations", "GetExportJob"),
        ({"after": 3}, "after", 3),
        ({"drop_connection": True}, "drop_connection", True),
        ({"throttle": 1}, "throttle", 1),
        ({"reset": "yes"}, "reset", "yes"),
    ],
)
def test_bad_fault_documents_answer_400_naming_field_and_value(
    pinpoint_emulator: PinpointEmulator, body: dict[str, Any], field: str, value: Any
) -> None:
    status, error = refused(pinpoint_emulator, "/faults", body)
    assert status == 400
    assert (error["field"], error["value"]) == (field, value)
    assert field in error["error"]
    assert control(pinpoint_emulator, "/faults")["throttle_rate"] == 0  # nothing applied


def test_unknown_paths_methods_and_bodies(pinpoint_emulator: PinpointEmulator) -> None:
    assert refused(pinpoint_emulator, "/nothing")[0] == 404
    assert refused(pinpoint_emulator, "/reset")[0] == 405  # GET
    assert refused(pinpoint_emulator, "/jobs?application_id=nope")[0] == 404
    assert refused(pinpoint_emulator, "/jobs?app=x")[1]["field"] == "app"
    assert "paths" in control(pinpoint_emulator, "")
    with pytest.raises(urllib.error.HTTPError) as caught:
        post(f"{pinpoint_emulator.control_url}/faults", b"[1]")
    assert caught.value.code == 400 and "JSON object" in json.loads(caught.value.read())["error"]


def test_reads_throttled_while_creation_is_not(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult
) -> None:
    control(pinpoint_emulator, "/faults", {"throttle_rate": 1.0, "operations": READS})
    client = pinpoint_emulator.client("pinpoint", config=NO_RETRIES)
    job = start_export(pinpoint_emulator, seeded, f"{seeded.s3_base_prefix}/reads")
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.get_export_job(ApplicationId=seeded.application_id, JobId=job["Id"])
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.get_segment_export_jobs(ApplicationId=seeded.application_id, SegmentId=seeded.segment_id)
    assert client.get_export_jobs(ApplicationId=seeded.application_id)["ExportJobsResponse"]["Item"]
    assert pinpoint_emulator.request_log == [
        ("CreateExportJob", 202),
        ("GetExportJob", 429),
        ("GetSegmentExportJobs", 429),
        ("GetExportJobs", 200),
    ]


def test_a_burst_counts_only_its_operations(pinpoint_emulator: PinpointEmulator, seeded: SeedResult) -> None:
    pinpoint_emulator.faults.throttle_burst(1, after=1, operations=["GetExportJob"])
    client = pinpoint_emulator.client("pinpoint", config=NO_RETRIES)
    job = start_export(pinpoint_emulator, seeded, f"{seeded.s3_base_prefix}/burst")
    client.get_app(ApplicationId=seeded.application_id)
    client.get_export_job(ApplicationId=seeded.application_id, JobId=job["Id"])  # the one let through
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.get_export_job(ApplicationId=seeded.application_id, JobId=job["Id"])
    assert pinpoint_emulator.faults.burst_remaining == 0


def test_python_api_limits_switches_to_operations(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult
) -> None:
    faults = pinpoint_emulator.faults
    faults.set(error_rate=1.0, operations=["CreateExportJob"])
    client = pinpoint_emulator.client("pinpoint", config=NO_RETRIES)
    client.get_app(ApplicationId=seeded.application_id)
    with pytest.raises(client.exceptions.InternalServerErrorException):
        create(client, seeded, f"{seeded.s3_base_prefix}/x")
    assert control(pinpoint_emulator, "/jobs")["jobs"] == []  # a plain 500 starts no job
    with pytest.raises(ValueError, match="'Nope'"):
        faults.set(throttle_rate=1.0, operations=["Nope"])
    with pytest.raises(ValueError, match="throttle_rate"):
        faults.set(throttle_rate=1.5)
    assert faults.throttle_rate == 0


def test_a_lost_answer_starts_the_job_and_answers_500(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult
) -> None:
    control(pinpoint_emulator, "/faults", {"lose_create_answers": 1})
    client = pinpoint_emulator.client("pinpoint", config=NO_RETRIES)
    with pytest.raises(client.exceptions.InternalServerErrorException):
        create(client, seeded, f"{seeded.s3_base_prefix}/lost")
    jobs = control(pinpoint_emulator, "/jobs")["jobs"]
    assert [(j["JobStatus"], j["Definition"]["S3UrlPrefix"]) for j in jobs] == [
        ("CREATED", f"{seeded.s3_base_prefix}/lost")
    ]
    create(client, seeded, f"{seeded.s3_base_prefix}/answered")  # the switch is used up
    state = control(pinpoint_emulator, "/faults")
    assert (state["lose_create_answers"], state["lost_answers_injected"], state["injected"]) == (0, 1, 1)
    assert pinpoint_emulator.request_log == [("CreateExportJob", 500), ("CreateExportJob", 202)]


def test_a_lost_answer_can_drop_the_connection(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult
) -> None:
    pinpoint_emulator.faults.lose_create_answers(1, drop_connection=True)
    client = pinpoint_emulator.client("pinpoint", config=NO_RETRIES)
    with pytest.raises(ConnectionClosedError):
        create(client, seeded, f"{seeded.s3_base_prefix}/dropped")
    assert len(control(pinpoint_emulator, "/jobs")["jobs"]) == 1
    assert pinpoint_emulator.request_log == [("CreateExportJob", 0)]
    assert client.get_app(ApplicationId=seeded.application_id)["ApplicationResponse"]["Id"]


def test_a_lost_answer_is_adopted_by_the_operators_retry(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult, no_backoff_sleep: None
) -> None:
    """The duplicate-export hazard over the wire: the job started, its answer was lost, the retry adopts."""
    run = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(minutes=1))
    control(pinpoint_emulator, "/faults", {"lose_create_answers": 1})
    with pytest.raises(PinpointTransientError, match="CreateExportJob"):
        make_operator(seeded, "run-lost").execute({"ti": FakeTaskInstance(try_number=1), "dag_run": run})
    [lost] = control(pinpoint_emulator, "/jobs")["jobs"]

    retry = {"ti": FakeTaskInstance(try_number=2), "dag_run": run}
    assert make_operator(seeded, "run-lost").execute(retry) == f"{seeded.s3_base_prefix}/run-lost"
    assert retry["ti"].xcom == pushed(lost["Id"], f"{seeded.s3_base_prefix}/run-lost")
    jobs = control(pinpoint_emulator, "/jobs")["jobs"]
    assert [j["Id"] for j in jobs] == [lost["Id"]]  # exactly one export job
    assert jobs[0]["JobStatus"] == "COMPLETED"
    assert pinpoint_emulator.calls("CreateExportJob") == 1


def test_job_listing_never_runs_an_export(pinpoint_emulator: PinpointEmulator, seeded: SeedResult) -> None:
    job = start_export(pinpoint_emulator, seeded, f"{seeded.s3_base_prefix}/listed")
    pinpoint_emulator.script_job(seeded.application_id, job["Id"], ["PROCESSING", "COMPLETED"])
    other = pinpoint_emulator.seed(n_endpoints=1, application_name="other")
    start_export(pinpoint_emulator, other, f"{other.s3_base_prefix}/other")
    for _ in range(2):
        jobs = control(pinpoint_emulator, f"/jobs?application_id={seeded.application_id}")["jobs"]
        assert [(j["Id"], j["JobStatus"], j["Scripted"], j["CompletedPieces"]) for j in jobs] == [
            (job["Id"], "CREATED", True, 0)
        ]
    assert len(control(pinpoint_emulator, "/jobs")["jobs"]) == 2
    s3 = pinpoint_emulator.client("s3")
    assert s3.list_objects_v2(Bucket=seeded.bucket, Prefix="exports/listed").get("KeyCount") == 0
    client = pinpoint_emulator.client("pinpoint")
    assert (
        client.get_export_job(ApplicationId=seeded.application_id, JobId=job["Id"])["ExportJobResponse"][
            "JobStatus"
        ]
        == "PROCESSING"
    )  # the script was not advanced by the listings


def test_a_job_scripted_over_http_answers_each_step_then_writes_its_files(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult
) -> None:
    job = start_export(pinpoint_emulator, seeded, f"{seeded.s3_base_prefix}/scripted")
    body = {
        "application_id": seeded.application_id,
        "job_id": job["Id"],
        "steps": ["PROCESSING", "COMPLETED"],
    }
    assert control(pinpoint_emulator, "/script", body) == {**body, "steps": 2}
    client = pinpoint_emulator.client("pinpoint")
    answers = [
        client.get_export_job(ApplicationId=seeded.application_id, JobId=job["Id"])["ExportJobResponse"]
        for _ in range(3)
    ]
    assert [a["JobStatus"] for a in answers] == ["PROCESSING", "COMPLETED", "COMPLETED"]
    assert answers[-1]["TotalProcessed"] == 5
    s3 = pinpoint_emulator.client("s3")
    assert s3.list_objects_v2(Bucket=seeded.bucket, Prefix="exports/scripted/").get("KeyCount", 0) >= 1


def test_a_bad_script_answers_400_or_404_naming_the_field(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult
) -> None:
    app = seeded.application_id
    cases = [
        ({"application_id": app, "job_id": None, "steps": [], "extra": 1}, 400, "extra"),
        ({"application_id": "", "steps": ["FAILED"]}, 400, "application_id"),
        ({"application_id": app, "job_id": 7, "steps": ["FAILED"]}, 400, "job_id"),
        ({"application_id": app, "steps": []}, 400, "steps"),
        ({"application_id": app, "steps": [3]}, 400, "steps"),
        ({"application_id": app, "steps": [{"JobStatus": ["COMPLETED"]}]}, 400, "steps"),
        ({"application_id": app, "steps": [""]}, 400, "steps"),
        ({"application_id": "no-such-app", "steps": ["FAILED"]}, 404, "application_id"),
        ({"application_id": app, "job_id": "no-such-job", "steps": ["FAILED"]}, 404, "job_id"),
    ]
    for body, status, field in cases:
        code, answer = refused(pinpoint_emulator, "/script", body)
        assert (code, answer["field"]) == (status, field), body


def test_reset_over_http_wipes_pinpoint_s3_iam_and_faults(
    pinpoint_emulator: PinpointEmulator, seeded: SeedResult
) -> None:
    start_export(pinpoint_emulator, seeded, f"{seeded.s3_base_prefix}/gone")
    pinpoint_emulator.faults.throttle_rate = 0.5
    assert control(pinpoint_emulator, "/reset", {}) == {"reset": True}
    assert control(pinpoint_emulator, "/jobs") == {"jobs": []}
    assert pinpoint_emulator.faults.throttle_rate == 0 and pinpoint_emulator.request_log == []
    assert pinpoint_emulator.client("s3").list_buckets()["Buckets"] == []
    assert pinpoint_emulator.client("iam").list_roles()["Roles"] == []
    client = pinpoint_emulator.client("pinpoint", config=NO_RETRIES)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_app(ApplicationId=seeded.application_id)


def test_control_paths_do_not_collide_with_moto(pinpoint_emulator: PinpointEmulator) -> None:
    assert post(f"{pinpoint_emulator.endpoint_url}/moto-api/reset", b"") == {"status": "ok"}


def test_a_taken_port_is_an_oserror_naming_host_and_port(pinpoint_emulator: PinpointEmulator) -> None:
    taken = PinpointEmulator(port=pinpoint_emulator.port)
    with pytest.raises(OSError, match=f"127.0.0.1:{pinpoint_emulator.port}"):
        taken.start()
    assert not taken.running
