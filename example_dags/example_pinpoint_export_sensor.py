"""
Wait for the newest export job of a Pinpoint segment, started elsewhere, then read it.

An export may be started outside this DAG: by another DAG, a script, or the Pinpoint console.
SegmentExportJobSensor waits for it (``job_id=None`` follows the segment's newest export job),
fails clearly if it FAILED, and hands its S3UrlPrefix to the next task through XCom. With
``deferrable=True`` the wait happens in the triggerer instead of holding a worker slot.
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
from airflow_provider_pinpoint.sensors.pinpoint import SegmentExportJobSensor

with DAG(
    dag_id="example_pinpoint_export_sensor",
    description="Wait for a segment's newest Pinpoint export and count the files it wrote.",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["example", "pinpoint"],
    params={
        "application_id": Param("your-pinpoint-application-id", type="string"),
        "segment_id": Param("your-segment-id", type="string"),
    },
) as dag:
    wait_for_export = SegmentExportJobSensor(
        task_id="wait_for_export",
        application_id="{{ params.application_id }}",
        segment_id="{{ params.segment_id }}",
        mode="reschedule",
        poke_interval=10,
        timeout=6 * 60 * 60,
        retries=1,  # a reschedule-mode sensor wants one: see the README's "Long exports"
    )

    @task
    def count_files(s3_url_prefix: str, job_id: str) -> dict:
        """Report the export's files; the job id comes from the sensor's ``job_id`` XCom."""
        files = PinpointHook(aws_conn_id="aws_default").list_export_files(s3_url_prefix)
        summary = {"job_id": job_id, "s3_url_prefix": s3_url_prefix, "files": len(files)}
        print(f"Export summary: {summary}")
        return summary

    count_files(
        wait_for_export.output,
        "{{ ti.xcom_pull(task_ids='wait_for_export', key='job_id') }}",
    )
