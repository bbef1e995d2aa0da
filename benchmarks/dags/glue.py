"""The Amazon provider's Glue operator and sensor, in the same shape of DAG."""

from datetime import datetime

from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.amazon.aws.sensors.glue import GlueJobSensor
from airflow.sdk import DAG

with DAG(dag_id="bench_glue", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):
    start = GlueJobOperator(task_id="start", job_name="job", wait_for_completion=False)
    wait = GlueJobSensor(task_id="wait", job_name="job", run_id="{{ ti.xcom_pull(task_ids='start') }}")
    start >> wait
