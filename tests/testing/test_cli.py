"""The ``python -m airflow_provider_pinpoint.testing`` command line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

MODULE = [sys.executable, "-m", "airflow_provider_pinpoint.testing"]


def test_help() -> None:
    result = subprocess.run(
        [*MODULE, "serve", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert "--seed-endpoints" in result.stdout and "--step-seconds" in result.stdout


def test_serve_prints_one_json_line_serves_and_stops_cleanly() -> None:
    command = [
        *MODULE,
        "serve",
        "--port",
        "0",
        "--seed-endpoints",
        "7",
        "--step-seconds",
        "0",
        "--piece-size",
        "3",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert set(info) == {
            "endpoint_url",
            "region_name",
            "application_id",
            "segment_id",
            "bucket",
            "role_arn",
            "s3_base_prefix",
            "endpoints",
            "airflow_conn_aws_default",
        }
        assert info["endpoints"] == 7
        assert info["endpoint_url"].startswith("http://127.0.0.1:")
        assert json.loads(info["airflow_conn_aws_default"])["extra"]["endpoint_url"] == info["endpoint_url"]

        def client(service: str) -> object:
            return boto3.client(
                service,
                endpoint_url=info["endpoint_url"],
                region_name=info["region_name"],
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        pinpoint = client("pinpoint")
        job = pinpoint.create_export_job(  # type: ignore[attr-defined]
            ApplicationId=info["application_id"],
            ExportJobRequest={"RoleArn": info["role_arn"], "S3UrlPrefix": info["s3_base_prefix"]},
        )["ExportJobResponse"]
        done = pinpoint.get_export_job(ApplicationId=info["application_id"], JobId=job["Id"])  # type: ignore[attr-defined]
        assert done["ExportJobResponse"]["JobStatus"] == "COMPLETED"
        assert done["ExportJobResponse"]["TotalPieces"] == 3
        listing = client("s3").list_objects_v2(Bucket=info["bucket"], Prefix="exports/")  # type: ignore[attr-defined]
        assert listing["KeyCount"] == 3
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert info["endpoint_url"] not in stderr


def test_serve_without_seed_prints_only_connection_keys() -> None:
    process = subprocess.Popen([*MODULE, "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert set(info) == {"endpoint_url", "region_name", "airflow_conn_aws_default"}
    assert process.returncode == 0


# --------------------------------------------------------------------------- controlling a running serve
def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command line in a process of its own."""
    return subprocess.run([*MODULE, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, Any]]:
    """``serve`` as a subprocess, started with reads throttled; yields its JSON line."""
    command = [
        *MODULE,
        "serve",
        "--seed-endpoints",
        "3",
        "--step-seconds",
        "0",
        "--throttle-rate",
        "1",
        "--fault-operations",
        "GetExportJob",
        "GetSegmentExportJobs",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def pinpoint_client(info: dict[str, Any]) -> Any:
    """A third client: plain boto3, no retries, as a user's own code would build it."""
    return boto3.client(
        "pinpoint",
        endpoint_url=info["endpoint_url"],
        region_name=info["region_name"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def start(client: Any, info: dict[str, Any], run: str) -> str:
    request = {"RoleArn": info["role_arn"], "S3UrlPrefix": f"{info['s3_base_prefix']}/{run}"}
    response = client.create_export_job(ApplicationId=info["application_id"], ExportJobRequest=request)
    return str(response["ExportJobResponse"]["Id"])


def test_serve_flags_set_the_start_up_faults(served: dict[str, Any]) -> None:
    shown = run_cli("faults", "--endpoint-url", served["endpoint_url"], "--show")
    assert shown.returncode == 0, shown.stderr
    state = json.loads(shown.stdout)
    assert (state["throttle_rate"], state["throttle_operations"]) == (
        1.0,
        ["GetExportJob", "GetSegmentExportJobs"],
    )
    client = pinpoint_client(served)
    job_id = start(client, served, "start-up")  # creation is not throttled
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.get_export_job(ApplicationId=served["application_id"], JobId=job_id)


def test_faults_command_switches_a_running_serve(served: dict[str, Any]) -> None:
    url = served["endpoint_url"]
    cleared = run_cli("faults", "--endpoint-url", url, "--reset")
    assert cleared.returncode == 0 and json.loads(cleared.stdout)["throttle_rate"] == 0
    client = pinpoint_client(served)
    job_id = start(client, served, "switched")
    assert client.get_export_job(ApplicationId=served["application_id"], JobId=job_id)

    switched = run_cli(
        "faults", "--endpoint-url", url, "--throttle-burst", "1", "--fault-operations", "GetExportJob"
    )
    assert switched.returncode == 0, switched.stderr
    assert json.loads(switched.stdout)["throttle_burst"] == 1
    with pytest.raises(client.exceptions.TooManyRequestsException) as caught:
        client.get_export_job(ApplicationId=served["application_id"], JobId=job_id)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    answer = client.get_export_job(ApplicationId=served["application_id"], JobId=job_id)
    assert answer["ExportJobResponse"]["JobStatus"] == "COMPLETED"

    lost = run_cli("faults", "--endpoint-url", url, "--lose-create-answers", "1")
    assert json.loads(lost.stdout)["lose_create_answers"] == 1
    with pytest.raises(client.exceptions.InternalServerErrorException):
        start(client, served, "lost")
    listed = run_cli("jobs", "--endpoint-url", url, "--application-id", served["application_id"])
    assert listed.returncode == 0, listed.stderr
    prefixes = [job["Definition"]["S3UrlPrefix"] for job in json.loads(listed.stdout)["jobs"]]
    assert prefixes[-1] == f"{served['s3_base_prefix']}/lost"

    wiped = run_cli("reset", "--endpoint-url", url)
    assert (wiped.returncode, json.loads(wiped.stdout)) == (0, {"reset": True})
    assert json.loads(run_cli("jobs", "--endpoint-url", url).stdout) == {"jobs": []}


def test_faults_command_errors_are_one_line_and_exit_1(served: dict[str, Any]) -> None:
    refused = run_cli("faults", "--endpoint-url", served["endpoint_url"], "--after", "2")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "after goes with throttle_burst" in refused.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = run_cli("faults", "--endpoint-url", f"http://127.0.0.1:{closed_port}", "--show")
    assert unreachable.returncode == 1 and unreachable.stderr.count("\n") == 1
    assert "cannot reach" in unreachable.stderr


def test_serve_on_a_taken_port_prints_one_line_and_exits_1(served: dict[str, Any]) -> None:
    port = served["endpoint_url"].rsplit(":", 1)[1]
    result = run_cli("serve", "--port", port)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in result.stderr


def test_plugin_fixture_on_a_taken_port_is_an_oserror(served: dict[str, Any], tmp_path: Path) -> None:
    port = served["endpoint_url"].rsplit(":", 1)[1]
    (tmp_path / "test_uses_emulator.py").write_text("def test_it(pinpoint_emulator):\n    pass\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "airflow_provider_pinpoint.testing.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--pinpoint-emulator-port",
            port,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1
    assert "OSError" in result.stdout and f"Cannot listen on 127.0.0.1:{port}" in result.stdout
