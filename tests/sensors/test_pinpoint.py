from __future__ import annotations

import json
import re

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from airflow_provider_pinpoint._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    TaskDeferred,
)
from airflow_provider_pinpoint.hooks.pinpoint import JOB_INTERMEDIATE_STATES, PinpointApiError
from airflow_provider_pinpoint.sensors.pinpoint import SegmentExportJobSensor
from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger
from tests.factories import (
    APP,
    SEG,
    FakeTaskInstance,
    Raising,
    execute,
    hook_clients,
    job,
    make_sensor,
    page,
    pushed,
    start_export,
)


def stubbed(sensor):
    return Stubber(sensor.hook.conn)


def test_template_fields():
    assert {"application_id", "segment_id", "job_id", "aws_conn_id", "region_name"} <= set(
        SegmentExportJobSensor.template_fields
    )


@pytest.mark.parametrize("status", sorted(JOB_INTERMEDIATE_STATES | {"SOMETHING_NEW"}))
def test_running_states_are_not_done(context, status):
    sensor = make_sensor()
    with stubbed(sensor) as stub:
        stub.add_response(
            "get_export_job", {"ExportJobResponse": job("j1", status)}, {"ApplicationId": APP, "JobId": "j1"}
        )
        assert sensor.poke(context) is False
    assert context["ti"].xcom == {}


def test_completed_pushes_prefix_and_job_id_as_plain_strings(context):
    sensor = make_sensor()
    with stubbed(sensor) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": job("j1")})
        result = sensor.poke(context)
    assert isinstance(result, PokeReturnValue)
    assert result.xcom_value == "s3://bucket/j1"
    assert context["ti"].xcom == pushed("j1")
    json.dumps([result.xcom_value, context["ti"].xcom])


def test_failed_raises_fail_exception_with_details(context):
    sensor = make_sensor()
    failed = job("j1", "FAILED", TotalFailures=3, FailedPieces=1, TotalPieces=2, Failures=["bucket gone"])
    with stubbed(sensor) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": failed})
        with pytest.raises(
            AirflowFailException, match=r"j1.*FAILED.*TotalFailures=3.*FailedPieces=1/2.*bucket gone"
        ):
            sensor.poke(context)


def test_failing_fails_only_when_asked(context):
    for fail_on_failing, expected in ((False, False), (True, None)):
        sensor = make_sensor(fail_on_failing=fail_on_failing)
        with stubbed(sensor) as stub:
            stub.add_response("get_export_job", {"ExportJobResponse": job("j1", "FAILING")})
            if expected is None:
                with pytest.raises(AirflowFailException):
                    sensor.poke(context)
            else:
                assert sensor.poke(context) is expected


def test_without_job_id_waits_on_the_newest_job_each_poke(context):
    sensor = make_sensor(job_id=None)
    with stubbed(sensor) as stub:
        stub.add_response("get_segment_export_jobs", page([]))
        assert sensor.poke(context) is False  # no export job yet: not done
        stub.add_response(
            "get_segment_export_jobs",
            page(
                [
                    job("old", "COMPLETED", "2026-01-01T00:00:00Z"),
                    job("new", "PROCESSING", "2026-02-01T00:00:00Z"),
                ]
            ),
        )
        assert sensor.poke(context) is False  # the newest one still runs
        stub.add_response(
            "get_segment_export_jobs",
            page(
                [
                    job("old", "COMPLETED", "2026-01-01T00:00:00Z"),
                    job("new", "COMPLETED", "2026-02-01T00:00:00Z"),
                ]
            ),
        )
        assert sensor.poke(context).xcom_value == "s3://bucket/new"
    assert context["ti"].xcom == pushed("new")


def test_throttled_poke_is_not_done_and_not_failed(context):
    sensor = make_sensor(botocore_config={"retries": {"mode": "standard", "total_max_attempts": 1}})
    with stubbed(sensor) as stub:
        stub.add_client_error(
            "get_export_job", service_error_code="TooManyRequestsException", http_status_code=429
        )
        assert sensor.poke(context) is False


def test_unknown_job_fails_instead_of_waiting(context):
    sensor = make_sensor()
    with stubbed(sensor) as stub:
        stub.add_client_error("get_export_job", service_error_code="NotFoundException", http_status_code=404)
        with pytest.raises(PinpointApiError, match="NotFoundException"):
            sensor.poke(context)


def test_blank_ids_fail_before_any_call(context):
    sensor = make_sensor(segment_id="  ")
    with stubbed(sensor), pytest.raises(ValueError, match="segment_id.*'  '"):
        sensor.poke(context)


def test_reschedule_mode_keeps_no_state_between_pokes(context):
    first, second = make_sensor(mode="reschedule"), make_sensor(mode="reschedule")
    with stubbed(first) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": job("j1", "PROCESSING")})
        assert first.poke(context) is False
    with stubbed(second) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": job("j1")})
        assert second.poke(context).xcom_value == "s3://bucket/j1"


# ------------------------------------------------------------------ deferrable
def test_deferrable_finished_job_does_not_defer(context):
    sensor = make_sensor(deferrable=True)
    with stubbed(sensor) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": job("j1")})
        assert sensor.execute(context) == "s3://bucket/j1"


def test_deferrable_running_job_defers_with_every_setting(context):
    sensor = make_sensor(
        deferrable=True,
        job_id=None,
        poke_interval=5,
        timeout=100,
        verify=False,
        botocore_config={"read_timeout": 7},
    )
    with stubbed(sensor) as stub:
        stub.add_response("get_segment_export_jobs", page([job("j9", "PROCESSING")]))
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, SegmentExportJobTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout.total_seconds() == 100
    _, kwargs = trigger.serialize()
    assert (kwargs["job_id"], kwargs["segment_id"]) == ("j9", SEG)  # resolved before deferring
    assert kwargs["waiter_delay"] == 5 and kwargs["waiter_max_attempts"] == 20
    assert (kwargs["aws_conn_id"], kwargs["region_name"], kwargs["verify"]) == (None, "us-east-1", False)
    assert kwargs["botocore_config"] == {"read_timeout": 7}


def test_deferrable_failed_job_skips_with_soft_fail(context):
    sensor = make_sensor(deferrable=True, soft_fail=True)
    with stubbed(sensor) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": job("j1", "FAILED")})
        with pytest.raises(AirflowSkipException):
            sensor.execute(context)


def test_execute_complete_success(context):
    sensor = make_sensor()
    result = sensor.execute_complete(
        context, {"status": "success", "job_id": "j1", "s3_url_prefix": "s3://b/x"}
    )
    assert result == "s3://b/x"
    assert context["ti"].xcom == pushed("j1", "s3://b/x")


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (None, PinpointApiError),
        ({"status": "error", "reason": "failed", "job_id": "j1", "message": "boom"}, AirflowFailException),
        ({"status": "error", "reason": "timeout", "job_id": "j1", "message": "slow"}, AirflowSensorTimeout),
        (
            {"status": "error", "reason": "api_error", "job_id": "j1", "message": "Forbidden"},
            PinpointApiError,
        ),
    ],
)
def test_execute_complete_errors(context, event, error):
    with pytest.raises(error):
        make_sensor().execute_complete(context, event)
    assert context["ti"].xcom == {}


def test_deferrable_without_any_job_yet_defers_to_wait_for_one(context):
    sensor = make_sensor(deferrable=True, job_id=None, poke_interval=5, timeout=50)
    with stubbed(sensor) as stub:
        stub.add_response("get_segment_export_jobs", page([]))
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context)
    _, kwargs = deferred.value.trigger.serialize()
    assert (kwargs["job_id"], kwargs["segment_id"], kwargs["waiter_max_attempts"]) == (None, SEG, 10)


# ------------------------------------------------------------------ soft_fail, timeouts, odd answers
@mock_aws
def test_moto_not_yet_implemented_is_a_failure_not_not_there_yet(context):
    """moto answers Pinpoint export calls with a bare 404: a sensor must fail, not wait forever."""
    boto3.client("pinpoint", region_name="us-east-1")  # moto is active for this test
    sensor = make_sensor(job_id=None)
    with pytest.raises(PinpointApiError, match=r"GetSegmentExportJobs failed .* 404: Not yet implemented"):
        sensor.poke(context)


def test_unknown_status_keeps_waiting_with_a_warning(context, capsys, caplog):
    sensor = make_sensor()
    with Stubber(sensor.hook.conn) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": job("j1", "ARCHIVING")})
        assert sensor.poke(context) is False
    logged = capsys.readouterr().out + caplog.text
    assert re.search(r"warning.*ARCHIVING \(not a documented JobStatus; still waiting\)", logged, re.I | re.S)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_soft_fail_skips_a_failed_export(pinpoint_emulator, deferrable, capsys, caplog):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    started = start_export(pinpoint_emulator, seed, "s3://gone/x")
    pinpoint_emulator.script_job(seed.application_id, started["Id"], ["PROCESSING", "FAILING", "FAILED"])
    context = {"ti": FakeTaskInstance()}
    sensor = make_sensor(seed, job_id=started["Id"], soft_fail=True, timeout=60, deferrable=deferrable)
    with pytest.raises(AirflowSkipException):
        execute(sensor, context)
    logged = capsys.readouterr().out + caplog.text  # the skip still says why
    assert "ended FAILED" in logged and "Bucket gone does not exist" in logged
    strict = make_sensor(seed, job_id=started["Id"], timeout=60, deferrable=deferrable)
    with pytest.raises(AirflowFailException, match="FAILED"):
        execute(strict, context)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_soft_fail_does_not_skip_a_permanent_api_error(pinpoint_emulator, deferrable):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    context = {"ti": FakeTaskInstance()}
    sensor = make_sensor(seed, job_id="no-such-job", soft_fail=True, timeout=60, deferrable=deferrable)
    with pytest.raises(PinpointApiError, match="NotFoundException"):
        execute(sensor, context)


def test_deferred_api_error_is_not_skipped_by_soft_fail(context):
    sensor = make_sensor(soft_fail=True)
    event = {"status": "error", "reason": "api_error", "job_id": "j1", "message": "ForbiddenException"}
    with pytest.raises(PinpointApiError):
        sensor.resume_execution("execute_complete", {"event": event}, context)
    for reason in ("failed", "timeout"):
        with pytest.raises(AirflowSkipException):
            sensor.resume_execution("execute_complete", {"event": {**event, "reason": reason}}, context)


@pytest.mark.parametrize("soft_fail", [False, True])
def test_sensor_timeout(pinpoint_emulator, soft_fail):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    job_id = start_export(pinpoint_emulator, seed, "s3://pinpoint-exports/t")["Id"]
    pinpoint_emulator.set_job_status(seed.application_id, job_id, "PROCESSING")
    sensor = make_sensor(seed, job_id=job_id, soft_fail=soft_fail, timeout=0)
    with pytest.raises(AirflowSkipException if soft_fail else AirflowSensorTimeout):
        sensor.execute({"ti": FakeTaskInstance()})


def test_sensor_takes_the_prefix_from_the_listing_when_definition_is_empty(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    job_id = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/e")["Id"]
    # GetExportJob answers an empty Definition; the listing afterwards shows the full job.
    pinpoint_emulator.script_job(
        seed.application_id, job_id, [{"JobStatus": "COMPLETED", "Definition": {}}, "COMPLETED"]
    )
    context = {"ti": FakeTaskInstance()}
    result = make_sensor(seed, job_id=job_id).poke(context)
    assert result.xcom_value == f"{seed.s3_base_prefix}/e"
    assert context["ti"].xcom == pushed(job_id, f"{seed.s3_base_prefix}/e")


def test_sensor_pushes_none_when_no_prefix_is_reported_anywhere(pinpoint_emulator, capsys, caplog):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    job_id = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/e")["Id"]
    pinpoint_emulator.set_job_status(seed.application_id, job_id, "COMPLETED", Definition={})
    result = make_sensor(seed, job_id=job_id).poke({"ti": FakeTaskInstance()})
    assert result.is_done and result.xcom_value is None
    assert "reports no S3UrlPrefix; pushing None" in capsys.readouterr().out + caplog.text


def test_job_id_rendered_from_a_missing_xcom_is_refused_before_any_call(context):
    sensor = make_sensor(job_id="None")
    with (
        hook_clients(read=Raising(AssertionError("no call expected"))),
        pytest.raises(ValueError, match="job_id rendered to 'None'"),
    ):
        sensor.poke(context)


def test_deferrable_first_check_honours_never_fail(context):
    sensor = make_sensor(deferrable=True)
    if not hasattr(sensor, "never_fail"):
        pytest.skip("this Airflow has no never_fail")
    sensor.never_fail = True
    with Stubber(sensor.hook.conn) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": job("j1", "FAILED")})
        with pytest.raises(AirflowSkipException):
            sensor.execute(context)


def test_deferrable_first_check_never_fail_skips_any_error(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=2)
    sensor = make_sensor(seed, job_id="no-such-job", deferrable=True, timeout=60)
    if not hasattr(sensor, "never_fail"):
        pytest.skip("this Airflow has no never_fail")
    sensor.never_fail = True
    with pytest.raises(AirflowSkipException, match="NotFoundException"):
        sensor.execute({"ti": FakeTaskInstance()})
