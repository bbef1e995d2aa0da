"""
Export a Pinpoint segment, then read the export back with one mapped task per file.

A large export (millions of endpoints) is many gzip files under one S3UrlPrefix. Reading them
one after another on one worker is slow; dynamic task mapping spreads them over every worker
(Celery, Kubernetes): ``list_files`` names the files and deals them into at most
``MAX_MAPPED`` batches (Airflow's ``[core] max_map_length`` is 1024 by default), ``count_files``
is mapped over the batches and reads each file with ``PinpointHook.iter_export_file``, and
``total`` adds the counts (0 for an export without files).
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

MAX_MAPPED = 256  # mapped tasks at most; a larger export puts several files in each

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
    def list_files(s3_url_prefix: str) -> list[list[str]]:
        """The export's files (``s3://bucket/key`` each), dealt into at most MAX_MAPPED batches."""
        files = PinpointHook(aws_conn_id="aws_default").list_export_files(s3_url_prefix)
        batches = min(len(files), MAX_MAPPED)
        return [files[i::batches] for i in range(batches)]

    @task
    def count_files(s3_urls: list[str]) -> int:
        """Read a batch of files (streamed, never held whole) and count their endpoints; logs no record."""
        hook = PinpointHook(aws_conn_id="aws_default")
        return sum(1 for url in s3_urls for _ in hook.iter_export_file(url))

    @task(trigger_rule="none_failed")  # also runs, with no counts, when the export wrote no file
    def total(counts: list[int]) -> int:
        """Every batch's count added up: the export's endpoints."""
        endpoints = sum(counts or [])
        print(f"Endpoints exported: {endpoints}")
        return endpoints

    total(count_files.expand(s3_urls=list_files(export_segment.output)))
