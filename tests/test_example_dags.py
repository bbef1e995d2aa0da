"""The example DAGs: they load, and they run end to end on the local Pinpoint emulator."""

from __future__ import annotations

import json

import pytest

from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook
from tests.factories import fresh_dag, load_dagbag, start_export, task_states


@pytest.fixture(scope="session")
def dagbag():
    return load_dagbag()


def test_example_dags_load_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"example_pinpoint_segment_export", "example_pinpoint_export_sensor"}


def xcom(dag_run, task_id: str):
    """A task's return value from the metadata DB, read the same way on Airflow 2 and 3."""
    from airflow.settings import Session
    from sqlalchemy import text

    with Session() as session:
        value = session.execute(
            text(
                "SELECT value FROM xcom WHERE dag_id = :d AND run_id = :r AND task_id = :t"
                " AND key = 'return_value'"
            ),
            {"d": dag_run.dag_id, "r": dag_run.run_id, "t": task_id},
        ).scalar()
    while isinstance(value, (str, bytes)):  # JSON text; Airflow 3.0 stores it encoded twice
        try:
            value = json.loads(value)
        except ValueError:
            break
    return value


@pytest.mark.parametrize("deferrable", [False, True], ids=["waiting", "deferred"])
def test_export_dag_end_to_end(airflow_db, pinpoint_emulator, deferrable):
    pinpoint_emulator.piece_size = 100
    seed = pinpoint_emulator.seed(n_endpoints=250)
    if deferrable:  # the job is still running when the operator defers; the trigger sees it finish
        pinpoint_emulator.script_job(seed.application_id, None, ["CREATED", "PROCESSING", "COMPLETED"])
    dag = fresh_dag("example_pinpoint_segment_export", deferrable=deferrable)
    conf = {
        "application_id": seed.application_id,
        "segment_id": seed.segment_id,
        "role_arn": seed.role_arn,
        "s3_base_prefix": seed.s3_base_prefix,
    }
    dag_run = dag.test(run_conf=conf)

    assert task_states(dag_run) == {"export_segment": "success", "count_endpoints": "success"}
    prefix = xcom(dag_run, "export_segment")
    assert prefix == f"{seed.s3_base_prefix}/{dag_run.run_id}"
    summary = xcom(dag_run, "count_endpoints")
    assert summary["files"] == 3 and summary["endpoints"] == 250
    exported = [r["Id"] for r in PinpointHook().iter_exported_endpoints(prefix)]
    assert sorted(exported) == sorted(seed.endpoint_ids)  # every endpoint exactly once
    assert pinpoint_emulator.calls("CreateExportJob") == 1
    if deferrable:
        assert pinpoint_emulator.calls("GetExportJob") == 3


def test_export_dag_fails_with_the_jobs_failures(airflow_db, pinpoint_emulator, capsys, caplog):
    seed = pinpoint_emulator.seed(n_endpoints=20)
    dag = fresh_dag("example_pinpoint_segment_export")
    conf = {
        "application_id": seed.application_id,
        "segment_id": seed.segment_id,
        "role_arn": seed.role_arn,
        "s3_base_prefix": "s3://no-such-bucket/exports",
    }
    dag_run = dag.test(run_conf=conf)
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "failed"
    states = task_states(dag_run)
    assert states["export_segment"] == "failed"
    assert states["count_endpoints"] in {"upstream_failed", "none", "None"}
    captured = capsys.readouterr()
    task_log = captured.out + captured.err + caplog.text
    assert "AirflowFailException" in task_log
    assert "ended FAILED: TotalFailures=20, FailedPieces=1/1. Failures: Bucket no-such-bucket" in task_log


@pytest.mark.parametrize("deferrable", [False, True], ids=["poking", "deferred"])
def test_sensor_dag_end_to_end(airflow_db, pinpoint_emulator, deferrable):
    seed = pinpoint_emulator.seed(n_endpoints=30)
    if deferrable:
        pinpoint_emulator.script_job(seed.application_id, None, ["PROCESSING", "PROCESSING", "COMPLETED"])
    started = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/by-hand")
    dag = fresh_dag("example_pinpoint_export_sensor", deferrable=deferrable, mode="poke")
    dag_run = dag.test(run_conf={"application_id": seed.application_id, "segment_id": seed.segment_id})

    assert task_states(dag_run) == {"wait_for_export": "success", "count_files": "success"}
    assert xcom(dag_run, "wait_for_export") == f"{seed.s3_base_prefix}/by-hand"
    assert xcom(dag_run, "count_files") == {
        "job_id": started["Id"],
        "s3_url_prefix": f"{seed.s3_base_prefix}/by-hand",
        "files": 1,
    }
    if deferrable:  # the first poke saw PROCESSING on the worker; the trigger polled until COMPLETED
        assert pinpoint_emulator.calls("GetExportJob") == 3
