"""
Export an Amazon Pinpoint segment to S3, wait for the export, and count what it wrote.

The same DAG runs against AWS and against the local Pinpoint emulator (``make demo``): only the
``aws_default`` connection differs. Every run exports to its own prefix (the base prefix plus
the run id), so runs never mix their files. A completed export also adds an asset event on the
alias ``pinpoint-segment-export``, which starts ``example_pinpoint_export_consumer``.
"""

from __future__ import annotations

from collections import Counter
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
    dag_id="example_pinpoint_segment_export",
    description="Export a Pinpoint segment to S3 and count the exported endpoints by channel.",
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
) as dag:
    export_segment = SegmentExportJobOperator(
        task_id="export_segment",
        application_id="{{ params.application_id }}",
        segment_id="{{ params.segment_id }}",
        role_arn="{{ params.role_arn }}",
        s3_url_prefix="{{ params.s3_base_prefix }}/{{ run_id }}",
        waiter_delay=10,
        waiter_max_attempts=360,
        # On completion: an asset event for the export's prefix, which starts
        # example_pinpoint_export_consumer.
        asset_alias="pinpoint-segment-export",
    )

    @task
    def count_endpoints(s3_url_prefix: str) -> dict:
        """Read the export back and count endpoints by ChannelType; never logs a record."""
        hook = PinpointHook(aws_conn_id="aws_default")
        files = hook.list_export_files(s3_url_prefix)
        by_channel = Counter(
            r.get("ChannelType", "UNKNOWN") for r in hook.iter_exported_endpoints(s3_url_prefix)
        )
        summary = {
            "s3_url_prefix": s3_url_prefix,
            "files": len(files),
            "endpoints": sum(by_channel.values()),
            "by_channel": dict(sorted(by_channel.items())),
        }
        print(f"Export summary: {summary}")
        return summary

    count_endpoints(export_segment.output)
