"""A DAG with no task: what parsing costs before any operator is imported."""

from datetime import datetime

from airflow.sdk import DAG

with DAG(dag_id="bench_empty", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):
    pass
