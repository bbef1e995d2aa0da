from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from botocore.stub import Stubber

from airflow_provider_pinpoint._compat import AirflowFailException, TaskDeferred
from airflow_provider_pinpoint.hooks.pinpoint import PinpointApiError
from airflow_provider_pinpoint.operators.pinpoint import ExportJobTimeoutError, SegmentExportJobOperator
from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger
from tests.factories import (
    APP,
    PREFIX,
    ROLE,
    SEG,
    FakeTaskInstance,
    Raising,
    hook_clients,
    job,
    make_operator,
    page,
    pushed,
    start_export,
)


@contextmanager
def stubbed(op):
    """Stub both of the hook's clients: reads retry, CreateExportJob is never re-sent."""
    with Stubber(op.hook.conn) as read, Stubber(op.hook.conn_without_retries) as create:
        yield SimpleNamespace(read=read, create=create)


CREATE_REQUEST = {
    "ApplicationId": APP,
    "ExportJobRequest": {"RoleArn": ROLE, "S3UrlPrefix": PREFIX, "SegmentId": SEG},
}


def test_template_fields():
    assert {"application_id", "segment_id", "role_arn", "s3_url_prefix", "aws_conn_id"} <= set(
        SegmentExportJobOperator.template_fields
    )


def test_creates_one_job_waits_and_pushes_xcom(context):
    op = make_operator()
    with stubbed(op) as stub:
        stub.create.add_response(
            "create_export_job", {"ExportJobResponse": job("j1", "CREATED")}, CREATE_REQUEST
        )
        for status in ("PREPARING_FOR_INITIALIZATION", "PROCESSING", "COMPLETED"):
            stub.read.add_response(
                "get_export_job",
                {"ExportJobResponse": job("j1", status)},
                {"ApplicationId": APP, "JobId": "j1"},
            )
        result = op.execute(context)
        stub.read.assert_no_pending_responses()
        stub.create.assert_no_pending_responses()
    assert result == PREFIX
    assert context["ti"].xcom == pushed("j1")
    json.dumps([result, context["ti"].xcom])


def test_without_waiting_returns_after_create(context):
    op = make_operator(wait_for_completion=False, segment_version=2)
    request = {
        **CREATE_REQUEST,
        "ExportJobRequest": {**CREATE_REQUEST["ExportJobRequest"], "SegmentVersion": 2},
    }
    with stubbed(op) as stub:
        stub.create.add_response("create_export_job", {"ExportJobResponse": job("j1", "CREATED")}, request)
        assert op.execute(context) == PREFIX
    assert context["ti"].xcom == pushed("j1")


def test_failed_job_fails_the_task_with_details_and_keeps_job_id(context):
    op = make_operator()
    with stubbed(op) as stub:
        stub.create.add_response("create_export_job", {"ExportJobResponse": job("j1", "CREATED")})
        stub.read.add_response(
            "get_export_job", {"ExportJobResponse": job("j1", "FAILED", Failures=["no bucket"])}
        )
        with pytest.raises(AirflowFailException, match="j1.*FAILED.*no bucket"):
            op.execute(context)
    assert context["ti"].xcom == {"job_id": "j1"}


def test_running_past_max_attempts_says_how_long_it_waited(context):
    op = make_operator(waiter_max_attempts=2)
    with stubbed(op) as stub:
        stub.create.add_response("create_export_job", {"ExportJobResponse": job("j1", "CREATED")})
        stub.read.add_response("get_export_job", {"ExportJobResponse": job("j1", "PROCESSING")})
        stub.read.add_response("get_export_job", {"ExportJobResponse": job("j1", "PROCESSING")})
        with pytest.raises(ExportJobTimeoutError, match="not finished after 2 polls 0 s apart"):
            op.execute(context)


def test_throttled_check_is_asked_again(context):
    op = make_operator(botocore_config={"retries": {"mode": "standard", "total_max_attempts": 1}})
    with stubbed(op) as stub:
        stub.create.add_response("create_export_job", {"ExportJobResponse": job("j1", "CREATED")})
        stub.read.add_client_error(
            "get_export_job", service_error_code="TooManyRequestsException", http_status_code=429
        )
        stub.read.add_client_error(
            "get_export_job", service_error_code="InternalServerErrorException", http_status_code=500
        )
        stub.read.add_response("get_export_job", {"ExportJobResponse": job("j1")})
        assert op.execute(context) == PREFIX


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("application_id", ""),
        ("segment_id", None),
        ("role_arn", "arn:aws:iam::123:user/x"),
        ("s3_url_prefix", "s3:/bucket"),
        ("segment_version", -1),
        ("waiter_delay", -5),
        ("waiter_max_attempts", 0),
    ],
)
def test_bad_input_fails_before_any_call(context, field, value):
    op = make_operator(**{field: value})
    with stubbed(op), pytest.raises(ValueError, match=field) as raised:
        op.execute(context)
    assert repr(value) in str(raised.value)
    assert context["ti"].xcom == {}


def test_jinja_arguments_are_not_validated_at_construction():
    op = make_operator(application_id="{{ params.app }}", s3_url_prefix="{{ params.prefix }}/{{ run_id }}")
    assert op.application_id == "{{ params.app }}"


def test_retry_adopts_this_runs_running_export(context):
    context["ti"] = FakeTaskInstance(try_number=2)
    context["dag_run"] = SimpleNamespace(start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
    op = make_operator()
    with stubbed(op) as stub:
        stub.read.add_response(
            "get_segment_export_jobs",
            page(
                [
                    job(
                        "other",
                        "PROCESSING",
                        Definition={"S3UrlPrefix": "s3://bucket/elsewhere", "RoleArn": ROLE},
                    ),
                    job("j1", "PROCESSING"),
                ]
            ),
        )
        stub.read.add_response("get_export_job", {"ExportJobResponse": job("j1")})
        assert op.execute(context) == PREFIX  # no create_export_job was stubbed
    assert context["ti"].xcom == pushed("j1")


def test_retry_without_a_matching_export_starts_one(context):
    context["ti"] = FakeTaskInstance(try_number=2)
    context["dag_run"] = SimpleNamespace(start_date=datetime(2026, 6, 1, tzinfo=timezone.utc))
    op = make_operator(wait_for_completion=False)
    with stubbed(op) as stub:
        stub.read.add_response(
            "get_segment_export_jobs", page([job("old", "COMPLETED", "2026-01-01T00:00:00Z")])
        )
        stub.create.add_response(
            "create_export_job", {"ExportJobResponse": job("j2", "CREATED")}, CREATE_REQUEST
        )
        op.execute(context)
    assert context["ti"].xcom == pushed("j2", PREFIX)


def test_retry_with_reuse_off_starts_a_new_job(context):
    context["ti"] = FakeTaskInstance(try_number=3)
    context["dag_run"] = SimpleNamespace(start_date=None)
    op = make_operator(wait_for_completion=False, reuse_existing_job=False)
    with stubbed(op) as stub:
        stub.create.add_response("create_export_job", {"ExportJobResponse": job("j3", "CREATED")})
        op.execute(context)
    assert context["ti"].xcom == pushed("j3", PREFIX)


# ------------------------------------------------------------------ deferrable
def test_deferrable_defers_after_create_with_every_setting(context):
    op = make_operator(
        deferrable=True,
        waiter_delay=15,
        waiter_max_attempts=4,
        verify="/ca.pem",
        botocore_config={"connect_timeout": 3},
        fail_on_failing=True,
    )
    with stubbed(op) as stub:
        stub.create.add_response("create_export_job", {"ExportJobResponse": job("j1", "CREATED")})
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
    assert context["ti"].xcom == {"job_id": "j1"}
    trigger = deferred.value.trigger
    assert isinstance(trigger, SegmentExportJobTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs == {
        "application_id": APP,
        "job_id": "j1",
        "s3_url_prefix": PREFIX,
        "waiter_delay": 15,
        "waiter_max_attempts": 4,
        "fail_on_failing": True,
        "segment_id": None,
        "aws_conn_id": None,
        "region_name": "us-east-1",
        "verify": "/ca.pem",
        "botocore_config": {"connect_timeout": 3},
    }
    json.dumps(kwargs)


def test_execute_complete(context):
    op = make_operator()
    assert (
        op.execute_complete(context, {"status": "success", "job_id": "j1", "s3_url_prefix": None}) == PREFIX
    )
    with pytest.raises(AirflowFailException, match="boom"):
        op.execute_complete(
            context, {"status": "error", "reason": "failed", "job_id": "j1", "message": "boom"}
        )
    with pytest.raises(ExportJobTimeoutError, match="slow"):
        op.execute_complete(
            context, {"status": "error", "reason": "timeout", "job_id": "j1", "message": "slow"}
        )
    with pytest.raises(PinpointApiError, match="Forbidden"):
        op.execute_complete(
            context, {"status": "error", "reason": "api_error", "job_id": "j1", "message": "Forbidden"}
        )
    with pytest.raises(PinpointApiError):
        op.execute_complete(context, None)


# ------------------------------------------------------------------ empty Definition, retries, wait limits
def test_operator_returns_the_prefix_it_asked_for_when_definition_is_empty(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    pinpoint_emulator.script_job(seed.application_id, None, [{"JobStatus": "COMPLETED", "Definition": {}}])
    op = make_operator(seed, "asked")
    context = {"ti": FakeTaskInstance()}
    result = op.execute(context)
    assert result == f"{seed.s3_base_prefix}/asked"
    json.dumps([result, context["ti"].xcom])


def test_second_try_adopts_the_running_export_instead_of_starting_another(pinpoint_emulator, capsys, caplog):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    pinpoint_emulator.script_job(
        seed.application_id, None, ["PROCESSING"]
    )  # the first try's job keeps running
    run = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(minutes=5))
    first = {"ti": FakeTaskInstance(try_number=1), "dag_run": run}
    with pytest.raises(ExportJobTimeoutError):  # say the worker gave up on it
        make_operator(seed, "run-7", waiter_max_attempts=1).execute(first)
    first_job = first["ti"].xcom["job_id"]

    pinpoint_emulator.script_job(seed.application_id, first_job, ["PROCESSING", "COMPLETED"])
    second = {"ti": FakeTaskInstance(try_number=2), "dag_run": run}
    assert make_operator(seed, "run-7").execute(second) == f"{seed.s3_base_prefix}/run-7"
    assert second["ti"].xcom == pushed(first_job, f"{seed.s3_base_prefix}/run-7")
    assert pinpoint_emulator.calls("CreateExportJob") == 1
    assert f"Try 2: adopting export job {first_job} (PROCESSING)" in capsys.readouterr().out + caplog.text


def test_every_trigger_payload_and_xcom_is_json(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    context = {"ti": FakeTaskInstance()}
    op = make_operator(seed, "j", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    json.dumps(deferred.value.trigger.serialize()[1])
    event = asyncio.run(deferred.value.trigger.run().asend(None))
    json.dumps(event.payload)
    json.dumps(context["ti"].xcom)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("waiter_delay", float("nan")),
        ("waiter_delay", float("inf")),
        ("waiter_max_attempts", 10**13),
        ("waiter_max_attempts", 10**309),
    ],
)
def test_unusable_waits_are_refused_before_the_export_starts(context, field, value):
    op = make_operator(**{"deferrable": True, "waiter_delay": 30, field: value})  # 30: the default
    with (
        hook_clients(create=Raising(AssertionError("no call expected"))),
        pytest.raises(ValueError, match=field),
    ):
        op.execute(context)


def test_an_adopted_job_that_already_completed_is_not_waited_on(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=2)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/done")
    pinpoint_emulator.set_job_status(seed.application_id, job["Id"], "COMPLETED")
    op = make_operator(seed, "done", deferrable=True)
    run = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(minutes=1))
    context = {"ti": FakeTaskInstance(try_number=2), "dag_run": run}
    assert op.execute(context) == f"{seed.s3_base_prefix}/done"  # no TaskDeferred
    assert context["ti"].xcom == pushed(job["Id"], f"{seed.s3_base_prefix}/done")
    assert pinpoint_emulator.calls("CreateExportJob") == 1  # the one started above
