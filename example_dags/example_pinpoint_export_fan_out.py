"""
Export a Pinpoint segment, then read the export back with one mapped task per file.

A large export (millions of endpoints) is many gzip files under one S3UrlPrefix. Reading them
one after another on one worker is slow; dynamic task mapping spreads them over every worker
(Celery, Kubernetes): ``list_export_files`` names the files, ``count_file`` is mapped over them
and reads one file each with ``PinpointHook.iter_export_file``, and ``total`` adds the counts.
To map per batch of files instead, have ``list_files`` return lists of URLs.
"""

from __future__ import annotations

from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.10
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.param import Param

from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook
from airflow_provider_pinpoint.operators.pinpoint import SegmentExportJobOperator

with DAG(
    dag_id="example_pinpoint_export_fan_out",
    description="Export a Pinpoint segment and count its endpoints with one mapped task per file.",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["example", "pinpoint"],
    params={
        "application_id": Param("your-pinpoint-application-id", type="string"),
        "segment_id": Param("your-segment-id", type="string"),
        "role_arn": Param("arn:aws:iam::123456789012:role/pinpoint-export", type="string"),
        "s3_base_prefix": Param("s3://your-bucket/pinpoint-exports", type="string"),
    },
):
    export_segment = SegmentExportJobOperator(
        task_id="export_segment",
        application_id="{{ params.application_id }}",
        segment_id="{{ params.segment_id }}",
        role_arn="{{ params.role_arn }}",
        s3_url_prefix="{{ params.s3_base_prefix }}/{{ run_id }}",
        waiter_delay=10,
        waiter_max_attempts=360,
    )

    @task
    def list_files(s3_url_prefix: str) -> list[str]:
        """The export's files, ``s3://bucket/key`` each."""
        return PinpointHook(aws_conn_id="aws_default").list_export_files(s3_url_prefix)

    @task
    def count_file(s3_url: str) -> int:
        """Read one file (streamed, never held whole) and count its endpoints; never logs a record."""
        return sum(1 for _ in PinpointHook(aws_conn_id="aws_default").iter_export_file(s3_url))

    @task
    def total(counts: list[int]) -> int:
        """Every file's count added up: the export's endpoints."""
        print(f"Endpoints exported: {sum(counts)}")
        return sum(counts)

    total(count_file.expand(s3_url=list_files(export_segment.output)))
