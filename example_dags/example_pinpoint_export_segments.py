"""
Export several Pinpoint segments at once: the operator mapped over a list of SegmentIds.

Each map index starts its own export to its own prefix (the base prefix, the run id and the map
index), waits for it in the triggerer (``deferrable=True``) and links to it: the task's "Export
in S3" link shows each map index's own files in the S3 console.
"""

from __future__ import annotations

from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2.10
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.param import Param

from airflow_provider_pinpoint.operators.pinpoint import SegmentExportJobOperator

with DAG(
    dag_id="example_pinpoint_export_segments",
    description="Export several Pinpoint segments, one mapped task each.",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["example", "pinpoint"],
    params={
        "application_id": Param("your-pinpoint-application-id", type="string"),
        "segment_ids": Param(["your-segment-id", "another-segment-id"], type="array"),
        "role_arn": Param("arn:aws:iam::123456789012:role/pinpoint-export", type="string"),
        "s3_base_prefix": Param("s3://your-bucket/pinpoint-exports", type="string"),
    },
):

    @task
    def segment_ids(**context) -> list[str]:
        """The SegmentIds to export, one map index each."""
        return list(context["params"]["segment_ids"])

    SegmentExportJobOperator.partial(
        task_id="export_segment",
        application_id="{{ params.application_id }}",
        role_arn="{{ params.role_arn }}",
        s3_url_prefix="{{ params.s3_base_prefix }}/{{ run_id }}/{{ ti.map_index }}",
        deferrable=True,
        waiter_delay=10,
        waiter_max_attempts=360,
    ).expand(segment_id=segment_ids())
