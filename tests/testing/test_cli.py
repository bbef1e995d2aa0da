"""The ``python -m airflow_provider_pinpoint.testing`` command line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import boto3

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
