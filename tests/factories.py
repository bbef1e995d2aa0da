"""What the tests build again and again: ids, job and page bodies, tasks, a task instance, a run.

Every test module imports these from here (``tests/conftest.py`` exposes them as fixtures where a
fixture fits better), so there is one way to build each thing.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from airflow_provider_pinpoint._compat import TaskDeferred
from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook
from airflow_provider_pinpoint.operators.pinpoint import SegmentExportJobOperator
from airflow_provider_pinpoint.sensors.pinpoint import SegmentExportJobSensor

APP, SEG = "app-1", "seg-1"
ROLE = "arn:aws:iam::123456789012:role/pinpoint-export"
PREFIX = "s3://bucket/j1"


def job(job_id: str, status: str = "COMPLETED", created: str = "2026-01-01T00:00:00.000Z", **extra) -> dict:
    """An ExportJobResponse as Pinpoint answers it, for APP and SEG."""
    return {
        "ApplicationId": APP,
        "CreationDate": created,
        "Definition": {"RoleArn": ROLE, "S3UrlPrefix": f"s3://bucket/{job_id}", "SegmentId": SEG},
        "Id": job_id,
        "JobStatus": status,
        "Type": "EXPORT",
        **extra,
    }


def pushed(job_id: str, prefix: str | None = None, region: str = "us-east-1") -> dict:
    """What a task pushes to XCom besides return_value once it knows where the export writes.

    ``job_id``, and the console link's data for ``prefix`` (default: where :func:`job` writes) in
    the ``aws`` partition.
    """
    bucket, _, key = (prefix or f"s3://bucket/{job_id}").removeprefix("s3://").partition("/")
    link = {"region_name": region, "aws_domain": "aws.amazon.com", "bucket": bucket, "prefix": f"{key}/"}
    return {"job_id": job_id, "pinpoint_export_s3": link}


def page(items: list[dict], token: str | None = None) -> dict:
    """One page of a GetSegmentExportJobs answer."""
    body: dict = {"Item": items}
    if token is not None:
        body["NextToken"] = token
    return {"ExportJobsResponse": body}


class FakeTaskInstance:
    """Records what a task pushes to XCom, as ``context["ti"]`` does on Airflow 2 and 3."""

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object, **_: object) -> None:
        self.xcom[key] = value


def make_operator(seed=None, run: str = "run", **kwargs: Any) -> SegmentExportJobOperator:
    """The export operator, checking without pauses.

    :param seed: an emulator seed: export its segment to ``<base prefix>/<run>`` through the
        emulator's ``aws_default`` connection. Without one: APP, SEG, ROLE and PREFIX, no connection.
    """
    if seed is None:
        target = {"application_id": APP, "segment_id": SEG, "role_arn": ROLE, "s3_url_prefix": PREFIX}
        target.update(aws_conn_id=None, region_name="us-east-1")
    else:
        target = {
            "application_id": seed.application_id,
            "segment_id": seed.segment_id,
            "role_arn": seed.role_arn,
            "s3_url_prefix": f"{seed.s3_base_prefix}/{run}",
        }
    return SegmentExportJobOperator(**{"task_id": "export", **target, "waiter_delay": 0, **kwargs})


def make_sensor(seed=None, **kwargs: Any) -> SegmentExportJobSensor:
    """The export sensor for job ``j1``, poking without pauses.

    :param seed: an emulator seed: watch its segment through the emulator's ``aws_default``
        connection. Without one: APP and SEG, no connection.
    """
    if seed is None:
        target = {"application_id": APP, "segment_id": SEG, "aws_conn_id": None, "region_name": "us-east-1"}
    else:
        target = {"application_id": seed.application_id, "segment_id": seed.segment_id}
    args = {"task_id": "wait", **target, "job_id": "j1", "poke_interval": 0, "timeout": 60, **kwargs}
    return SegmentExportJobSensor(**args)


@contextmanager
def hook_clients(read: Any = None, create: Any = None):
    """Answer every PinpointHook's calls with stand-in clients while the block runs.

    :param read: replaces ``PinpointHook.conn`` (every call but CreateExportJob).
    :param create: replaces ``PinpointHook.conn_without_retries`` (CreateExportJob).
    """
    with ExitStack() as stack:
        for name, client in (("conn", read), ("conn_without_retries", create)):
            if client is not None:
                stack.enter_context(
                    mock.patch.object(PinpointHook, name, new_callable=mock.PropertyMock, return_value=client)
                )
        yield


class Raising:
    """A pinpoint client stand-in whose GetExportJob raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_export_job(self, **_):
        raise self.error


def start_export(emulator, seed, s3_url_prefix: str) -> dict:
    """Start an export of the seeded segment with a plain boto3 client, as someone else would."""
    return emulator.client("pinpoint").create_export_job(
        ApplicationId=seed.application_id,
        ExportJobRequest={
            "RoleArn": seed.role_arn,
            "S3UrlPrefix": s3_url_prefix,
            "SegmentId": seed.segment_id,
        },
    )["ExportJobResponse"]


def run_deferred(task, context, deferred: TaskDeferred):
    """What Airflow does with a deferral: run the trigger to its event, then resume the task."""
    event = asyncio.run(deferred.trigger.run().asend(None))
    json.dumps(event.payload)  # the triggerer stores it: JSON-native only
    return task.resume_execution(deferred.method_name, {"event": event.payload}, context)


def execute(task, context):
    """Execute a task in this process; a deferral runs its trigger inline."""
    try:
        return task.execute(context)
    except TaskDeferred as deferred:
        return run_deferred(task, context, deferred)


EXAMPLES = Path(__file__).resolve().parents[1] / "example_dags"


def load_dagbag(folder: Path = EXAMPLES):
    """A DagBag of the example DAGs (or another folder's), from the module each Airflow line keeps it in."""
    try:  # Airflow 3.2+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.10 - 3.1
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=str(folder))  # examples are off: AIRFLOW__CORE__LOAD_EXAMPLES=False


def fresh_dag(dag_id: str, folder: Path = EXAMPLES, **task_settings):
    """The DAG from a fresh DagBag, with test-speed waits and the given task attributes."""
    dag = load_dagbag(folder).get_dag(dag_id)
    _one_execution_api_per_process()
    if not hasattr(dag, "test"):  # Airflow 3.0: the Task SDK DAG runs through the core DAG class
        from airflow.models.dag import DAG
        from airflow.sdk.definitions._internal.expandinput import EXPAND_INPUT_EMPTY

        dag = DAG.from_sdk_dag(dag)
        # from_sdk_dag deep-copies the tasks; a mapped @task checks this sentinel by identity
        for task in dag.tasks:
            if getattr(task, "expand_input", None) == EXPAND_INPUT_EMPTY:
                task.expand_input = EXPAND_INPUT_EMPTY
        _read_mapped_results_from_the_db()
    if hasattr(dag, "sync_to_db") and not hasattr(dag, "from_sdk_dag"):
        # Airflow 2: write the DAG as its DAG processor would, so the asset aliases it declares exist
        dag.sync_to_db()
    for task in dag.tasks:
        for name, value in {"waiter_delay": 0, "poke_interval": 0, **task_settings}.items():
            if hasattr(task, name):
                setattr(task, name, value)
    return dag


def _one_execution_api_per_process() -> None:
    """Airflow 3.1 and 3.2's ``dag.test()`` build a new in-process Execution API (a FastAPI app with
    its versioned routes, seconds of CPU) for every task it runs; 3.3 builds one per process.
    Reuse one here too: the tasks' runs and what they assert are the same, the suite is faster."""
    try:
        supervisor = importlib.import_module("airflow.sdk.execution_time.supervisor")
    except ImportError:  # Airflow 2: tasks run without an Execution API
        return
    build = getattr(supervisor, "in_process_api_server", None)
    if build is not None and not hasattr(build, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(build)


def _read_mapped_results_from_the_db() -> None:
    """Airflow 3.0's ``dag.test()`` hands a task that reduces mapped results an SDK sequence that
    only a task runner can read; there, read it from the metadata DB as a deployment's API does."""
    from airflow.models.xcom import XComModel
    from airflow.sdk.execution_time.lazy_sequence import LazyXComSequence

    def values(seq) -> list:
        source = seq._xcom_arg.operator
        rows = XComModel.get_many(
            run_id=seq._ti.run_id, key=seq._xcom_arg.key, dag_ids=source.dag_id, task_ids=source.task_id
        )
        return [XComModel.deserialize_value(row) for row in rows.order_by(XComModel.map_index)]

    LazyXComSequence.__len__ = lambda self: len(values(self))
    LazyXComSequence.__getitem__ = lambda self, index: values(self)[index]


def task_states(dag_run) -> dict[str, str]:
    """Each task's final state in a DAG run, as a plain string."""
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
