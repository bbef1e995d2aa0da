"""The Amazon provider's Comprehend operator and sensor, in the same shape of DAG."""

from datetime import datetime

from airflow.providers.amazon.aws.operators.comprehend import ComprehendStartPiiEntitiesDetectionJobOperator
from airflow.providers.amazon.aws.sensors.comprehend import (
    ComprehendStartPiiEntitiesDetectionJobCompletedSensor,
)
from airflow.sdk import DAG

with DAG(dag_id="bench_comprehend", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):
    start = ComprehendStartPiiEntitiesDetectionJobOperator(
        task_id="start",
        input_data_config={"S3Uri": "s3://bucket/input"},
        output_data_config={"S3Uri": "s3://bucket/output"},
        mode="ONLY_REDACTION",
        data_access_role_arn="arn:aws:iam::123456789012:role/comprehend",
        language_code="en",
        wait_for_completion=False,
    )
    wait = ComprehendStartPiiEntitiesDetectionJobCompletedSensor(
        task_id="wait", job_id="{{ ti.xcom_pull(task_ids='start') }}"
    )
    start >> wait
