"""This provider's operator and sensor, as a user's DAG file would hold them."""

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_pinpoint.operators.pinpoint import SegmentExportJobOperator
from airflow_provider_pinpoint.sensors.pinpoint import SegmentExportJobSensor

with DAG(dag_id="bench_pinpoint", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):
    export = SegmentExportJobOperator(
        task_id="export",
        application_id="app",
        segment_id="segment",
        role_arn="arn:aws:iam::123456789012:role/pinpoint-export",
        s3_url_prefix="s3://bucket/exports/{{ run_id }}",
        wait_for_completion=False,
    )
    wait = SegmentExportJobSensor(
        task_id="wait",
        application_id="app",
        segment_id="segment",
        job_id="{{ ti.xcom_pull(task_ids='export', key='job_id') }}",
    )
    export >> wait
