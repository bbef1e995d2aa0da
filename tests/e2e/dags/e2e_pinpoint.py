"""
DAGs that only `make e2e` runs (scripts/e2e.py): deferrable, mapped and rescheduled waits on a
deployment with a scheduler, a Celery worker and a separate triggerer. Everything they need
(application, segments, role, prefixes) comes in the run's conf.
"""

from __future__ import annotations

from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook
from airflow_provider_pinpoint.operators.pinpoint import SegmentExportJobOperator
from airflow_provider_pinpoint.sensors.pinpoint import SegmentExportJobSensor

DEFAULTS = {"start_date": datetime(2026, 1, 1), "schedule": None, "catchup": False, "tags": ["e2e"]}
APP = "{{ dag_run.conf['application_id'] }}"
ROLE = "{{ dag_run.conf['role_arn'] }}"
PREFIX = "{{ dag_run.conf['s3_base_prefix'] }}/{{ run_id }}"
SEGMENT = "{{ dag_run.conf['segment_id'] }}"
DEFERRED = {
    "application_id": APP,
    "role_arn": ROLE,
    "deferrable": True,
    "waiter_delay": 1,
    "waiter_max_attempts": 300,
}


@task
def conf_list(key: str, **context) -> list:
    return list(context["dag_run"].conf[key])


def start_export() -> SegmentExportJobOperator:
    """Starts the run's export and does not wait for it."""
    return SegmentExportJobOperator(
        task_id="start_export",
        application_id=APP,
        segment_id=SEGMENT,
        role_arn=ROLE,
        s3_url_prefix=PREFIX,
        wait_for_completion=False,
    )


@task
def count_endpoints(s3_url_prefix: str) -> int:
    """Endpoints read back from the export; never logs a record."""
    return sum(1 for _ in PinpointHook(aws_conn_id="aws_default").iter_exported_endpoints(s3_url_prefix))


# One export, deferred; retried once (a lost CreateExportJob answer must be adopted on try 2).
with DAG(dag_id="e2e_deferred_export", **DEFAULTS):
    export = SegmentExportJobOperator(
        task_id="export",
        segment_id=SEGMENT,
        s3_url_prefix=PREFIX,
        **DEFERRED,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
    count_endpoints(export.output)

# The operator mapped over segments, deferred: one export per segment, each to its own prefix.
with DAG(dag_id="e2e_mapped_exports", **DEFAULTS):
    exports = SegmentExportJobOperator.partial(
        task_id="export", s3_url_prefix=PREFIX + "/{{ ti.map_index }}", **DEFERRED
    ).expand(segment_id=conf_list("segment_ids"))
    count_endpoints.expand(s3_url_prefix=exports.output)

# Start an export without waiting; a reschedule-mode sensor waits on its job_id from XCom.
with DAG(dag_id="e2e_reschedule_sensor", **DEFAULTS):
    start = start_export()
    wait = SegmentExportJobSensor(
        task_id="wait_for_export",
        application_id=APP,
        segment_id=SEGMENT,
        job_id="{{ ti.xcom_pull(task_ids='start_export', key='job_id') }}",
        mode="reschedule",
        poke_interval=1,
        timeout=300,
        retries=1,
    )
    start >> wait
    count_endpoints(wait.output)

# Deferrable sensors with job_id=None, mapped over segments that have no export yet: each waits
# in the triggerer until an export of its segment appears (started by e2e_start_export or the
# script) and finishes.
with DAG(dag_id="e2e_deferred_sensors", **DEFAULTS):
    SegmentExportJobSensor.partial(
        task_id="wait_for_export",
        application_id=APP,
        deferrable=True,
        poke_interval=5,  # each of the 200 deferred at once polls every 5 s
        timeout=900,
    ).expand(segment_id=conf_list("segment_ids"))

# Starts one export and does not wait: the export the deferred sensor above waits for.
with DAG(dag_id="e2e_start_export", **DEFAULTS):
    start_export()
