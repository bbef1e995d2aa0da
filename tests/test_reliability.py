"""Failure handling: transient faults, pagination anomalies, the error table, soft_fail, retries."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from hypothesis import given, settings, strategies as st
from moto import mock_aws

from airflow_provider_pinpoint._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_pinpoint.hooks.pinpoint import (
    MAX_PAGES,
    PinpointApiError,
    PinpointHook,
    PinpointTransientError,
    PinpointUnreachableError,
)
from airflow_provider_pinpoint.operators.pinpoint import ExportJobTimeoutError, SegmentExportJobOperator
from airflow_provider_pinpoint.sensors.pinpoint import SegmentExportJobSensor
from tests.conftest import FakeTaskInstance, start_export
from tests.hooks.test_pinpoint import APP, ROLE, SEG, job

# Four attempts per call, and no real backoff sleeps: the tests stay fast and still go
# through botocore's retry handler over HTTP.
RETRYING = {"retries": {"mode": "standard", "total_max_attempts": 4}}


def run_deferred(task, context, deferred: TaskDeferred):
    """What Airflow does with a deferral: run the trigger to its event, then resume the task."""
    event = asyncio.run(deferred.trigger.run().asend(None))
    return task.resume_execution(deferred.method_name, {"event": event.payload}, context)


def operator_for(seed, run: str, **kwargs) -> SegmentExportJobOperator:
    """An operator exporting the seeded segment to ``<base prefix>/<run>``, checking without pauses."""
    args = {"waiter_delay": 0, **kwargs}
    return SegmentExportJobOperator(
        task_id="export",
        application_id=seed.application_id,
        segment_id=seed.segment_id,
        role_arn=seed.role_arn,
        s3_url_prefix=f"{seed.s3_base_prefix}/{run}",
        **args,
    )


def execute(task, context):
    try:
        return task.execute(context)
    except TaskDeferred as deferred:
        return run_deferred(task, context, deferred)


# ------------------------------------------------------------------ transient faults, end to end
FAULTS = {
    "throttle 50%": lambda f: setattr(f, "throttle_rate", 0.5),
    "burst of 20 429s": lambda f: f.throttle_burst(20, after=1),
    "500 on 20%": lambda f: setattr(f, "error_rate", 0.2),
}


@pytest.mark.parametrize("deferrable", [False, True], ids=["waiting", "deferred"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_operator_survives_faults(pinpoint_emulator, no_backoff_sleep, capsys, fault, deferrable):
    seed = pinpoint_emulator.seed(n_endpoints=40)
    pinpoint_emulator.script_job(seed.application_id, None, ["CREATED"] + ["PROCESSING"] * 30 + ["COMPLETED"])
    FAULTS[fault](pinpoint_emulator.faults)
    context = {"ti": FakeTaskInstance()}
    op = operator_for(seed, "run", waiter_max_attempts=100, deferrable=deferrable, botocore_config=RETRYING)
    assert execute(op, context) == f"{seed.s3_base_prefix}/run"
    assert pinpoint_emulator.faults.injected > 0
    pinpoint_emulator.faults.reset()
    created = [status for op, status in pinpoint_emulator.request_log if op == "CreateExportJob"]
    assert created.count(202) == 1  # one export, however many throttled tries it took
    jobs = pinpoint_emulator.client("pinpoint").get_export_jobs(ApplicationId=seed.application_id)
    assert context["ti"].xcom == {"job_id": jobs["ExportJobsResponse"]["Item"][0]["Id"]}
    if fault == "burst of 20 429s":  # 20 throttles = 5 calls of 4 attempts, each logged as asked again
        logged = capsys.readouterr().out
        assert len(re.findall(r"did not answer \(TooManyRequestsException", logged)) == 5


@pytest.mark.parametrize("deferrable", [False, True], ids=["poking", "deferred"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_sensor_survives_faults(pinpoint_emulator, no_backoff_sleep, capsys, fault, deferrable):
    seed = pinpoint_emulator.seed(n_endpoints=40)
    started = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/x")
    pinpoint_emulator.script_job(seed.application_id, started["Id"], ["PROCESSING"] * 30 + ["COMPLETED"])
    FAULTS[fault](pinpoint_emulator.faults)
    context = {"ti": FakeTaskInstance()}
    sensor = SegmentExportJobSensor(
        task_id="wait",
        application_id=seed.application_id,
        segment_id=seed.segment_id,
        job_id=started["Id"],
        poke_interval=0,
        timeout=120,
        deferrable=deferrable,
        botocore_config=RETRYING,
    )
    assert execute(sensor, context) == f"{seed.s3_base_prefix}/x"
    assert context["ti"].xcom == {"job_id": started["Id"]}
    assert pinpoint_emulator.faults.injected > 0
    if fault == "burst of 20 429s":
        logged = capsys.readouterr().out
        assert len(re.findall(r"did not answer \(TooManyRequestsException", logged)) == 5


# ------------------------------------------------------------------ pagination, property-based
class FakePages:
    """A pinpoint client stand-in serving scripted pages by token, recording what was asked."""

    def __init__(self, pages: list[tuple[list[str], str | None]]) -> None:
        self.by_token = {None: 0}
        for index, (_, token) in enumerate(pages[:-1]):
            self.by_token.setdefault(token, index + 1)
        self.pages = pages
        self.asked: list[dict] = []

    def get_segment_export_jobs(self, **params):
        self.asked.append(params)
        items, token = self.pages[self.by_token[params.get("Token")]]
        body = {"Item": [job(i) for i in items]}
        if token is not None:
            body["NextToken"] = token
        return {"ExportJobsResponse": body}


def hook_with(client) -> PinpointHook:
    hook = PinpointHook(aws_conn_id=None, region_name="us-east-1")
    hook.__dict__["conn"] = client  # the cached client property
    return hook


page_items = st.lists(st.text("abcdef0123456789", min_size=8, max_size=8), max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.lists(page_items, min_size=1, max_size=12), st.sampled_from([None, ""]), st.integers(1, 50))
def test_every_job_exactly_once_over_any_pages(pages, end_token, page_size):
    script = [(items, f"tok-{i}") for i, items in enumerate(pages[:-1])] + [(pages[-1], end_token)]
    client = FakePages(script)
    jobs = list(hook_with(client).iter_segment_export_jobs(APP, SEG, page_size=page_size))
    assert [j["Id"] for j in jobs] == [i for items in pages for i in items]
    assert len(client.asked) == len(pages)  # no page skipped, none asked twice
    assert all(a["PageSize"] == str(page_size) for a in client.asked)
    assert [a.get("Token") for a in client.asked] == [None] + [f"tok-{i}" for i in range(len(pages) - 1)]


@settings(max_examples=100, deadline=None)
@given(st.lists(page_items, min_size=2, max_size=10), st.data())
def test_token_cycles_end_in_a_clear_error(pages, data):
    back_to = data.draw(st.integers(0, len(pages) - 2))
    script = [(items, f"tok-{i}") for i, items in enumerate(pages[:-1])] + [(pages[-1], f"tok-{back_to}")]
    client = FakePages(script)
    with pytest.raises(ValueError, match=rf"NextToken 'tok-{back_to}' a second time"):
        list(hook_with(client).iter_segment_export_jobs(APP, SEG))
    assert len(client.asked) == len(pages)


def test_a_listing_past_the_page_cap_is_an_error():
    class Endless:
        calls = 0

        def get_segment_export_jobs(self, **params):
            Endless.calls += 1
            return {"ExportJobsResponse": {"Item": [], "NextToken": f"t{Endless.calls}"}}

    with pytest.raises(ValueError, match=f"more than {MAX_PAGES} pages"):
        list(hook_with(Endless()).iter_segment_export_jobs(APP, SEG))
    assert Endless.calls == MAX_PAGES


# ------------------------------------------------------------------ the error table, row by row
def client_error(code: str, status: int, message: str = "m") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "r-9"},
        },
        "GetExportJob",
    )


class Raising:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_export_job(self, **_):
        raise self.error


TRANSIENT = [
    client_error("TooManyRequestsException", 429),
    client_error("ThrottlingException", 400),
    client_error("SomethingElse", 429),
    client_error("InternalServerErrorException", 500),
    client_error("ServiceUnavailable", 503),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
]


class Creating(Raising):
    """A client whose CreateExportJob starts job j1 and whose every read raises ``error``."""

    def create_export_job(self, **_):
        return {"ExportJobResponse": job("j1", "CREATED")}


UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError)


@pytest.mark.parametrize(
    "error", TRANSIENT, ids=lambda e: type(e).__name__ + getattr(e, "operation_name", "")
)
def test_transient_errors_mean_ask_again_on_every_path(context, no_backoff_sleep, error):
    sensor = SegmentExportJobSensor(task_id="w", application_id=APP, segment_id=SEG, job_id="j1")
    sensor.hook.__dict__["conn"] = Raising(error)
    assert sensor.poke(context) is False
    op = SegmentExportJobOperator(
        task_id="e",
        application_id=APP,
        segment_id=SEG,
        role_arn=ROLE,
        s3_url_prefix="s3://bkt/p",
        waiter_delay=0,
        waiter_max_attempts=2,
    )
    op.hook.__dict__["conn"] = op.hook.__dict__["conn_without_retries"] = Creating(error)
    # asked again until the attempts ran out; no outcome. When every poll found the endpoint
    # unreachable, the wait says so instead of calling it a timeout.
    expected = PinpointUnreachableError if isinstance(error, UNREACHABLE) else ExportJobTimeoutError
    with pytest.raises(expected):
        op.execute(context)


PERMANENT = [
    ("NotFoundException", 404, True),
    ("ForbiddenException", 403, True),
    ("BadRequestException", 400, False),
    ("404", 404, True),  # moto's "Not yet implemented"
]


@pytest.mark.parametrize(("code", "status", "end_of_support"), PERMANENT)
def test_permanent_errors_fail_with_what_a_user_needs(context, code, status, end_of_support):
    sensor = SegmentExportJobSensor(
        task_id="w", application_id=APP, segment_id=SEG, job_id="j1", soft_fail=True
    )
    sensor.hook.__dict__["conn"] = Raising(client_error(code, status, "the AWS message"))
    with pytest.raises(PinpointApiError) as raised:
        sensor.poke(context)
    message = str(raised.value)
    for part in ("GetExportJob", f"'{APP}'", "'j1'", code, "the AWS message", "RequestID: r-9"):
        assert part in message
    assert ("2026-10-30" in message) is end_of_support
    assert not isinstance(raised.value, AirflowSkipException)


@mock_aws
def test_moto_not_yet_implemented_is_a_failure_not_not_there_yet(context):
    """moto answers Pinpoint export calls with a bare 404: a sensor must fail, not wait forever."""
    boto3.client("pinpoint", region_name="us-east-1")  # moto is active for this test
    sensor = SegmentExportJobSensor(task_id="w", application_id=APP, segment_id=SEG, aws_conn_id=None)
    with pytest.raises(PinpointApiError, match=r"GetSegmentExportJobs failed .* 404: Not yet implemented"):
        sensor.poke(context)


BAD_INPUT = [
    ("application_id", "  "),
    ("segment_id", ""),
    ("job_id", ""),
    ("role_arn", "arn:aws:iam::123456789012:user/bob"),
    ("s3_url_prefix", "s3://"),
    ("segment_version", 0),
    ("page_size", True),
]


@pytest.mark.parametrize(("name", "value"), BAD_INPUT)
def test_bad_input_names_parameter_and_value_before_any_call(context, name, value):
    calls = []

    class Recording:
        def __getattr__(self, attr):
            calls.append(attr)
            raise AssertionError(f"API called: {attr}")

    if name == "page_size":
        target = lambda: list(hook_with(Recording()).iter_segment_export_jobs(APP, SEG, page_size=value))  # noqa: E731
    elif name in {"role_arn", "s3_url_prefix", "segment_version"}:
        args = {
            "application_id": APP,
            "segment_id": SEG,
            "role_arn": ROLE,
            "s3_url_prefix": "s3://bkt/p",
            name: value,
        }
        op = SegmentExportJobOperator(task_id="e", **args)
        op.hook.__dict__["conn"] = Recording()
        target = lambda: op.execute(context)  # noqa: E731
    else:
        args = {"application_id": APP, "segment_id": SEG, "job_id": "j1", name: value}
        sensor = SegmentExportJobSensor(task_id="w", **args)
        sensor.hook.__dict__["conn"] = Recording()
        target = lambda: sensor.poke(context)  # noqa: E731
    with pytest.raises(ValueError) as raised:
        target()
    assert name in str(raised.value) and repr(value) in str(raised.value)
    assert calls == []


def test_unknown_status_keeps_waiting_with_a_warning(context, capsys, caplog):
    sensor = SegmentExportJobSensor(
        task_id="w", application_id=APP, segment_id=SEG, job_id="j1", aws_conn_id=None
    )
    with Stubber(sensor.hook.conn) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": job("j1", "ARCHIVING")})
        assert sensor.poke(context) is False
    logged = capsys.readouterr().out + caplog.text
    assert re.search(r"warning.*ARCHIVING \(not a documented JobStatus; still waiting\)", logged, re.I | re.S)


# ------------------------------------------------------------------ soft_fail, poke and deferred
def sensor_for(emulator, seed, job_id, **kwargs):
    return SegmentExportJobSensor(
        task_id="w",
        application_id=seed.application_id,
        segment_id=seed.segment_id,
        job_id=job_id,
        poke_interval=0,
        **kwargs,
    )


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_soft_fail_skips_a_failed_export(pinpoint_emulator, deferrable, capsys, caplog):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    started = start_export(pinpoint_emulator, seed, "s3://gone/x")
    pinpoint_emulator.script_job(seed.application_id, started["Id"], ["PROCESSING", "FAILING", "FAILED"])
    context = {"ti": FakeTaskInstance()}
    sensor = sensor_for(
        pinpoint_emulator, seed, started["Id"], soft_fail=True, timeout=60, deferrable=deferrable
    )
    with pytest.raises(AirflowSkipException):
        execute(sensor, context)
    logged = capsys.readouterr().out + caplog.text  # the skip still says why
    assert "ended FAILED" in logged and "Bucket gone does not exist" in logged
    strict = sensor_for(pinpoint_emulator, seed, started["Id"], timeout=60, deferrable=deferrable)
    with pytest.raises(AirflowFailException, match="FAILED"):
        execute(strict, context)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_soft_fail_does_not_skip_a_permanent_api_error(pinpoint_emulator, deferrable):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    context = {"ti": FakeTaskInstance()}
    sensor = sensor_for(
        pinpoint_emulator, seed, "no-such-job", soft_fail=True, timeout=60, deferrable=deferrable
    )
    with pytest.raises(PinpointApiError, match="NotFoundException"):
        execute(sensor, context)


def test_deferred_api_error_is_not_skipped_by_soft_fail(context):
    sensor = SegmentExportJobSensor(
        task_id="w", application_id=APP, segment_id=SEG, job_id="j1", soft_fail=True
    )
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
    sensor = sensor_for(pinpoint_emulator, seed, job_id, soft_fail=soft_fail, timeout=0)
    with pytest.raises(AirflowSkipException if soft_fail else AirflowSensorTimeout):
        sensor.execute({"ti": FakeTaskInstance()})


# ------------------------------------------------------------------ empty Definition, over HTTP
def test_sensor_takes_the_prefix_from_the_listing_when_definition_is_empty(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    job_id = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/e")["Id"]
    # GetExportJob answers an empty Definition; the listing afterwards shows the full job.
    pinpoint_emulator.script_job(
        seed.application_id, job_id, [{"JobStatus": "COMPLETED", "Definition": {}}, "COMPLETED"]
    )
    context = {"ti": FakeTaskInstance()}
    result = sensor_for(pinpoint_emulator, seed, job_id).poke(context)
    assert result.xcom_value == f"{seed.s3_base_prefix}/e"
    assert context["ti"].xcom == {"job_id": job_id}


def test_sensor_pushes_none_when_no_prefix_is_reported_anywhere(pinpoint_emulator, capsys, caplog):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    job_id = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/e")["Id"]
    pinpoint_emulator.set_job_status(seed.application_id, job_id, "COMPLETED", Definition={})
    result = sensor_for(pinpoint_emulator, seed, job_id).poke({"ti": FakeTaskInstance()})
    assert result.is_done and result.xcom_value is None
    assert "reports no S3UrlPrefix; pushing None" in capsys.readouterr().out + caplog.text


def test_operator_returns_the_prefix_it_asked_for_when_definition_is_empty(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    pinpoint_emulator.script_job(seed.application_id, None, [{"JobStatus": "COMPLETED", "Definition": {}}])
    op = operator_for(seed, "asked")
    context = {"ti": FakeTaskInstance()}
    result = op.execute(context)
    assert result == f"{seed.s3_base_prefix}/asked"
    json.dumps([result, context["ti"].xcom])


# ------------------------------------------------------------------ nothing lost on task retries
def test_second_try_adopts_the_running_export_instead_of_starting_another(pinpoint_emulator, capsys, caplog):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    pinpoint_emulator.script_job(
        seed.application_id, None, ["PROCESSING"]
    )  # the first try's job keeps running
    run = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(minutes=5))
    first = {"ti": FakeTaskInstance(try_number=1), "dag_run": run}
    with pytest.raises(ExportJobTimeoutError):  # say the worker gave up on it
        operator_for(seed, "run-7", waiter_max_attempts=1).execute(first)
    first_job = first["ti"].xcom["job_id"]

    pinpoint_emulator.script_job(seed.application_id, first_job, ["PROCESSING", "COMPLETED"])
    second = {"ti": FakeTaskInstance(try_number=2), "dag_run": run}
    assert operator_for(seed, "run-7").execute(second) == f"{seed.s3_base_prefix}/run-7"
    assert second["ti"].xcom == {"job_id": first_job}
    assert pinpoint_emulator.calls("CreateExportJob") == 1
    assert f"Try 2: adopting export job {first_job} (PROCESSING)" in capsys.readouterr().out + caplog.text


def test_every_trigger_payload_and_xcom_is_json(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    context = {"ti": FakeTaskInstance()}
    op = operator_for(seed, "j", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    json.dumps(deferred.value.trigger.serialize()[1])
    event = asyncio.run(deferred.value.trigger.run().asend(None))
    json.dumps(event.payload)
    json.dumps(context["ti"].xcom)


# ------------------------------------------------------------------ CreateExportJob is never duplicated
def test_a_create_that_timed_out_is_not_sent_again_and_the_retry_adopts_it(
    pinpoint_emulator, no_backoff_sleep
):
    """The request reached Pinpoint but its answer was lost: one export, not one per re-send."""
    seed = pinpoint_emulator.seed(n_endpoints=5)
    run = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(minutes=1))
    pinpoint_emulator.faults.latency = 2.0  # every answer comes after the client gave up
    slow = operator_for(
        seed, "run-1", botocore_config={"read_timeout": 0.5, "retries": {"total_max_attempts": 2}}
    )
    with pytest.raises(PinpointTransientError, match="CreateExportJob"):
        slow.execute({"ti": FakeTaskInstance(try_number=1), "dag_run": run})
    pinpoint_emulator.faults.latency = 0
    deadline = time.monotonic() + 30  # the lost request is still being answered: wait for it to land
    while pinpoint_emulator.calls("CreateExportJob") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pinpoint_emulator.calls("CreateExportJob") == 1

    retry = {"ti": FakeTaskInstance(try_number=2), "dag_run": run}
    prefix = operator_for(seed, "run-1").execute(retry)
    assert pinpoint_emulator.calls("CreateExportJob") == 1
    ids = [r["Id"] for r in PinpointHook().iter_exported_endpoints(prefix)]
    assert sorted(ids) == sorted(seed.endpoint_ids)  # each endpoint once: no second export mixed in


def test_sensor_asks_again_when_the_prefix_lookup_is_throttled(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    job_id = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/e")["Id"]
    pinpoint_emulator.script_job(
        seed.application_id, job_id, [{"JobStatus": "COMPLETED", "Definition": {}}, "COMPLETED"]
    )
    pinpoint_emulator.faults.throttle_burst(10, after=1)  # GetExportJob answers; the listing is throttled
    sensor = sensor_for(
        pinpoint_emulator, seed, job_id, botocore_config={"retries": {"total_max_attempts": 1}}
    )
    context = {"ti": FakeTaskInstance()}
    assert sensor.poke(context) is False
    assert context["ti"].xcom == {}
    pinpoint_emulator.faults.reset()
    assert sensor.poke(context).xcom_value == f"{seed.s3_base_prefix}/e"


def test_job_id_rendered_from_a_missing_xcom_is_refused_before_any_call(context):
    sensor = SegmentExportJobSensor(task_id="w", application_id=APP, segment_id=SEG, job_id="None")
    sensor.hook.__dict__["conn"] = Raising(AssertionError("no call expected"))
    with pytest.raises(ValueError, match="job_id rendered to 'None'"):
        sensor.poke(context)


def test_a_missing_job_names_application_segment_and_job(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=1)
    with pytest.raises(PinpointApiError) as raised:
        PinpointHook().get_segment_export_job(seed.application_id, seed.segment_id, "no-such-job")
    for part in (seed.application_id, seed.segment_id, "no-such-job", "NotFoundException"):
        assert part in str(raised.value)


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
    op = SegmentExportJobOperator(
        task_id="e",
        application_id=APP,
        segment_id=SEG,
        role_arn=ROLE,
        s3_url_prefix="s3://bkt/p",
        deferrable=True,
        **{field: value},
    )
    op.hook.__dict__["conn_without_retries"] = Raising(AssertionError("no call expected"))
    with pytest.raises(ValueError, match=field):
        op.execute(context)


def test_deferrable_first_check_honours_never_fail(context):
    sensor = SegmentExportJobSensor(
        task_id="w", application_id=APP, segment_id=SEG, job_id="j1", deferrable=True, aws_conn_id=None
    )
    if not hasattr(sensor, "never_fail"):
        pytest.skip("this Airflow has no never_fail")
    sensor.never_fail = True
    with Stubber(sensor.hook.conn) as stub:
        stub.add_response("get_export_job", {"ExportJobResponse": job("j1", "FAILED")})
        with pytest.raises(AirflowSkipException):
            sensor.execute(context)


async def test_trigger_refuses_a_job_of_another_segment(pinpoint_emulator):
    from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger

    seed = pinpoint_emulator.seed(n_endpoints=2)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/o")
    trigger = SegmentExportJobTrigger(
        application_id=seed.application_id, job_id=job["Id"], segment_id="another-segment", waiter_delay=0
    )
    event = (await trigger.run().asend(None)).payload
    assert (event["status"], event["reason"]) == ("error", "api_error")
    assert "not to segment 'another-segment'" in event["message"]


async def test_trigger_with_an_unusable_client_setting_reports_instead_of_crashing():
    from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger

    trigger = SegmentExportJobTrigger(application_id="a", job_id="j", botocore_config={"read_timout": 1})
    event = (await trigger.run().asend(None)).payload
    assert (event["status"], event["reason"]) == ("error", "api_error")
    assert "read_timout" in event["message"]


def test_deferrable_first_check_never_fail_skips_any_error(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=2)
    sensor = sensor_for(pinpoint_emulator, seed, "no-such-job", deferrable=True, timeout=60)
    if not hasattr(sensor, "never_fail"):
        pytest.skip("this Airflow has no never_fail")
    sensor.never_fail = True
    with pytest.raises(AirflowSkipException, match="NotFoundException"):
        sensor.execute({"ti": FakeTaskInstance()})


def test_an_adopted_job_that_already_completed_is_not_waited_on(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=2)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/done")
    pinpoint_emulator.set_job_status(seed.application_id, job["Id"], "COMPLETED")
    op = operator_for(seed, "done", deferrable=True)
    run = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(minutes=1))
    context = {"ti": FakeTaskInstance(try_number=2), "dag_run": run}
    assert op.execute(context) == f"{seed.s3_base_prefix}/done"  # no TaskDeferred
    assert context["ti"].xcom == {"job_id": job["Id"]}
    assert pinpoint_emulator.calls("CreateExportJob") == 1  # the one started above
