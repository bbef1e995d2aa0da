"""The example DAGs: they load, and they run end to end on the local Pinpoint emulator."""

from __future__ import annotations

import json

import pytest

from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook
from tests.factories import fresh_dag, load_dagbag, start_export, task_states


@pytest.fixture(scope="session")
def dagbag(airflow_db):  # Airflow 2.10 reads the DB to parse a DAG scheduled on an asset alias
    return load_dagbag()


def test_example_dags_load_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        "example_pinpoint_segment_export",
        "example_pinpoint_export_sensor",
        "example_pinpoint_export_consumer",
        "example_pinpoint_export_fan_out",
        "example_pinpoint_export_segments",
    }


def xcom(dag_run, task_id: str, key: str = "return_value", map_index: int = -1):
    """A task's XCom value from the metadata DB, read the same way on Airflow 2 and 3."""
    from airflow.settings import Session
    from sqlalchemy import text

    with Session() as session:
        value = session.execute(
            text(
                "SELECT value FROM xcom WHERE dag_id = :d AND run_id = :r AND task_id = :t"
                " AND key = :k AND map_index = :m"
            ),
            {"d": dag_run.dag_id, "r": dag_run.run_id, "t": task_id, "k": key, "m": map_index},
        ).scalar()
    while isinstance(value, (str, bytes)):  # JSON text; Airflow 3.0 stores it encoded twice
        try:
            value = json.loads(value)
        except ValueError:
            break
    return value


def export_conf(seed, **changes) -> dict:
    """The run conf of an export DAG for an emulator seed."""
    conf = {"application_id": seed.application_id, "segment_id": seed.segment_id, "role_arn": seed.role_arn}
    return {**conf, "s3_base_prefix": seed.s3_base_prefix, **changes}


@pytest.mark.parametrize("deferrable", [False, True], ids=["waiting", "deferred"])
def test_export_dag_end_to_end(airflow_db, pinpoint_emulator, deferrable):
    pinpoint_emulator.piece_size = 100
    seed = pinpoint_emulator.seed(n_endpoints=250)
    if deferrable:  # the job is still running when the operator defers; the trigger sees it finish
        pinpoint_emulator.script_job(seed.application_id, None, ["CREATED", "PROCESSING", "COMPLETED"])
    dag = fresh_dag("example_pinpoint_segment_export", deferrable=deferrable)
    conf = export_conf(seed)
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
    job_id = xcom(dag_run, "export_segment", "job_id")
    extra = {"job_id": job_id, "segment_id": seed.segment_id, "application_id": seed.application_id}
    assert asset_events(dag_run) == [(prefix, {**extra, "s3_url_prefix": prefix})]


def asset_events(dag_run) -> list[tuple[str, dict]]:
    """The asset events a DAG run's tasks added (URI, extra), from the metadata DB."""
    from airflow.settings import Session
    from sqlalchemy import text

    from airflow_provider_pinpoint._compat import Asset

    table = "asset" if Asset.__name__ == "Asset" else "dataset"  # Airflow 2.10 keeps datasets
    query = (
        f"SELECT a.uri, e.extra FROM {table}_event e JOIN {table} a ON a.id = e.{table}_id"
        " WHERE e.source_dag_id = :d AND e.source_run_id = :r ORDER BY e.id"
    )
    with Session() as session:
        rows = session.execute(text(query), {"d": dag_run.dag_id, "r": dag_run.run_id}).all()
    return [(uri, json.loads(extra) if isinstance(extra, str) else extra) for uri, extra in rows]


def test_fan_out_dag_reads_each_file_in_a_mapped_task_and_adds_up_every_endpoint(
    airflow_db, pinpoint_emulator
):
    pinpoint_emulator.piece_size = 100
    seed = pinpoint_emulator.seed(n_endpoints=250)
    dag = fresh_dag("example_pinpoint_export_fan_out")
    conf = export_conf(seed)
    dag_run = dag.test(run_conf=conf)

    counts = [xcom(dag_run, "count_files", map_index=i) for i in range(3)]  # 3 files: 1 per task
    assert counts == [100, 100, 50] and xcom(dag_run, "count_files", map_index=3) is None
    assert xcom(dag_run, "total") == 250 == len(seed.endpoint_ids)
    assert asset_events(dag_run) == []  # this DAG's operator has no asset_alias


def test_fan_out_dag_totals_zero_for_an_empty_segment(airflow_db, pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=0)
    dag_run = fresh_dag("example_pinpoint_export_fan_out").test(run_conf=export_conf(seed))
    assert len(xcom(dag_run, "list_files")) == 1  # one file, holding no endpoint
    assert task_states(dag_run)["total"] == "success" and xcom(dag_run, "total") == 0


def test_a_mapped_operator_stores_each_map_index_its_own_console_link(airflow_db, pinpoint_emulator):
    from airflow_provider_pinpoint.links.pinpoint import SegmentExportS3Link

    seed = pinpoint_emulator.seed(n_endpoints=5)
    client = pinpoint_emulator.client("pinpoint")
    more = client.create_segment(ApplicationId=seed.application_id, WriteSegmentRequest={"Name": "more"})
    segments = [seed.segment_id, more["SegmentResponse"]["Id"]]
    dag = fresh_dag("example_pinpoint_export_segments")
    conf = {
        "application_id": seed.application_id,
        "role_arn": seed.role_arn,
        "s3_base_prefix": "s3://pinpoint-exports/linked",
        "segment_ids": segments,
    }
    dag_run = dag.test(run_conf=conf)

    assert task_states(dag_run)["export_segment"] == "success"
    stored = xcom(dag_run, "export_segment", SegmentExportS3Link.key, map_index=1)
    assert SegmentExportS3Link().format_link(**stored) == (
        "https://console.aws.amazon.com/s3/buckets/pinpoint-exports"
        f"?region=us-east-1&prefix=linked/{dag_run.run_id.replace(':', '%3A').replace('+', '%2B')}/1/"
    )
    assert xcom(dag_run, "export_segment", SegmentExportS3Link.key, map_index=0)["prefix"].endswith("/0/")


def test_export_dag_fails_with_the_jobs_failures(airflow_db, pinpoint_emulator, capsys, caplog):
    seed = pinpoint_emulator.seed(n_endpoints=20)
    dag = fresh_dag("example_pinpoint_segment_export")
    conf = export_conf(seed, s3_base_prefix="s3://no-such-bucket/exports")
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
