"""OpenLineage: the provider's own extraction reports the export's prefix as the output dataset."""

from __future__ import annotations

import inspect

import pytest

from tests.factories import FakeTaskInstance, execute, make_operator, make_sensor, start_export


def extract(task):
    """What the OpenLineage listener extracts from a finished task (``complete=True`` on the 1.x provider)."""
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from airflow.utils.state import TaskInstanceState

    manager, dag_run, ti = ExtractorManager(), FakeDagRun(), FakeTaskInstance()
    ti.state = TaskInstanceState.SUCCESS
    if "complete" in inspect.signature(manager.extract_metadata).parameters:  # the provider's 1.x (Airflow 2)
        return manager.extract_metadata(dag_run, task, complete=True, task_instance=ti)
    return manager.extract_metadata(dag_run, task, TaskInstanceState.SUCCESS, ti)


class FakeDagRun:
    """The run the extraction names in its log lines."""

    run_id = dag_id = "lineage"


@pytest.mark.parametrize(
    ("prefix", "namespace", "name"),
    [
        ("s3://{bucket}/exports/lineage/run-1", "s3://{bucket}", "exports/lineage/run-1"),
        ("s3://{bucket}/exports/lineage/run-2/", "s3://{bucket}", "exports/lineage/run-2"),
        ("s3://{bucket}", "s3://{bucket}", "/"),
    ],
    ids=["prefix", "trailing slash", "bucket"],
)
def test_operator_reports_the_export_it_wrote_as_its_output(
    pinpoint_emulator, openlineage_enabled, prefix, namespace, name
):
    seed = pinpoint_emulator.seed(n_endpoints=3)
    task = make_operator(seed, s3_url_prefix=prefix.format(bucket=seed.bucket))
    execute(task, {"ti": FakeTaskInstance()})
    [output] = extract(task).outputs
    assert (output.namespace, output.name) == (namespace.format(bucket=seed.bucket), name)


def test_deferred_sensor_reports_the_export_it_waited_for_as_its_output(
    pinpoint_emulator, openlineage_enabled
):
    seed = pinpoint_emulator.seed(n_endpoints=3)
    pinpoint_emulator.script_job(seed.application_id, None, ["PROCESSING", "COMPLETED"])
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/waited-for")
    task = make_sensor(seed, job_id=job["Id"], deferrable=True)
    execute(task, {"ti": FakeTaskInstance()})
    [output] = extract(task).outputs
    assert (output.namespace, output.name) == (f"s3://{seed.bucket}", "exports/waited-for")


def test_a_task_whose_export_did_not_complete_reports_no_output(openlineage_enabled):
    assert extract(make_operator()).outputs == []
