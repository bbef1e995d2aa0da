"""The fault matrix over the emulator: transient faults end to end, and the error table row by row.

Every path (operator waiting or deferred, sensor poking or deferred) meets the same faults: throttling,
5xx answers, lost connections and answers that come too late. Each either asks again or fails with
what a user needs, and CreateExportJob is never sent twice.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from airflow_provider_pinpoint._compat import AirflowSkipException
from airflow_provider_pinpoint.hooks.pinpoint import (
    PinpointApiError,
    PinpointHook,
    PinpointTransientError,
    PinpointUnreachableError,
)
from airflow_provider_pinpoint.operators.pinpoint import ExportJobTimeoutError
from tests.factories import (
    APP,
    FakeTaskInstance,
    Raising,
    execute,
    hook_clients,
    job,
    make_operator,
    make_sensor,
    pushed,
    start_export,
)

# Four attempts per call, and no real backoff sleeps: the tests stay fast and still go
# through botocore's retry handler over HTTP.
RETRYING = {"retries": {"mode": "standard", "total_max_attempts": 4}}


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
    op = make_operator(seed, "run", waiter_max_attempts=100, deferrable=deferrable, botocore_config=RETRYING)
    assert execute(op, context) == f"{seed.s3_base_prefix}/run"
    assert pinpoint_emulator.faults.injected > 0
    pinpoint_emulator.faults.reset()
    created = [status for op, status in pinpoint_emulator.request_log if op == "CreateExportJob"]
    assert created.count(202) == 1  # one export, however many throttled tries it took
    jobs = pinpoint_emulator.client("pinpoint").get_export_jobs(ApplicationId=seed.application_id)
    assert context["ti"].xcom == pushed(
        jobs["ExportJobsResponse"]["Item"][0]["Id"], f"{seed.s3_base_prefix}/run"
    )
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
    sensor = make_sensor(
        seed, job_id=started["Id"], timeout=120, deferrable=deferrable, botocore_config=RETRYING
    )
    assert execute(sensor, context) == f"{seed.s3_base_prefix}/x"
    assert context["ti"].xcom == pushed(started["Id"], f"{seed.s3_base_prefix}/x")
    assert pinpoint_emulator.faults.injected > 0
    if fault == "burst of 20 429s":
        logged = capsys.readouterr().out
        assert len(re.findall(r"did not answer \(TooManyRequestsException", logged)) == 5


# ------------------------------------------------------------------ the error table, row by row
def client_error(code: str, status: int, message: str = "m") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "r-9"},
        },
        "GetExportJob",
    )


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
    with hook_clients(read=Raising(error)):
        assert make_sensor().poke(context) is False
    op = make_operator(waiter_max_attempts=2)
    client = Creating(error)
    # asked again until the attempts ran out; no outcome. When every poll found the endpoint
    # unreachable, the wait says so instead of calling it a timeout.
    expected = PinpointUnreachableError if isinstance(error, UNREACHABLE) else ExportJobTimeoutError
    with hook_clients(read=client, create=client), pytest.raises(expected):
        op.execute(context)


PERMANENT = [
    ("NotFoundException", 404, True),
    ("ForbiddenException", 403, True),
    ("BadRequestException", 400, False),
    ("404", 404, True),  # moto's "Not yet implemented"
]


@pytest.mark.parametrize(("code", "status", "end_of_support"), PERMANENT)
def test_permanent_errors_fail_with_what_a_user_needs(context, code, status, end_of_support):
    sensor = make_sensor(soft_fail=True)
    with (
        hook_clients(read=Raising(client_error(code, status, "the AWS message"))),
        pytest.raises(PinpointApiError) as raised,
    ):
        sensor.poke(context)
    message = str(raised.value)
    for part in ("GetExportJob", f"'{APP}'", "'j1'", code, "the AWS message", "RequestID: r-9"):
        assert part in message
    assert ("2026-10-30" in message) is end_of_support
    assert not isinstance(raised.value, AirflowSkipException)


# ------------------------------------------------------------------ CreateExportJob is never duplicated
def test_a_create_that_timed_out_is_not_sent_again_and_the_retry_adopts_it(
    pinpoint_emulator, no_backoff_sleep
):
    """The request reached Pinpoint but its answer was lost: one export, not one per re-send."""
    seed = pinpoint_emulator.seed(n_endpoints=5)
    run = SimpleNamespace(start_date=datetime.now(timezone.utc) - timedelta(minutes=1))
    pinpoint_emulator.faults.latency = 2.0  # every answer comes after the client gave up
    slow = make_operator(
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
    prefix = make_operator(seed, "run-1").execute(retry)
    assert pinpoint_emulator.calls("CreateExportJob") == 1
    ids = [r["Id"] for r in PinpointHook().iter_exported_endpoints(prefix)]
    assert sorted(ids) == sorted(seed.endpoint_ids)  # each endpoint once: no second export mixed in


# ------------------------------------------------------------------ a throttled lookup is asked again
def test_sensor_asks_again_when_the_prefix_lookup_is_throttled(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    job_id = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/e")["Id"]
    pinpoint_emulator.script_job(
        seed.application_id, job_id, [{"JobStatus": "COMPLETED", "Definition": {}}, "COMPLETED"]
    )
    pinpoint_emulator.faults.throttle_burst(10, after=1)  # GetExportJob answers; the listing is throttled
    sensor = make_sensor(seed, job_id=job_id, botocore_config={"retries": {"total_max_attempts": 1}})
    context = {"ti": FakeTaskInstance()}
    assert sensor.poke(context) is False
    assert context["ti"].xcom == {}
    pinpoint_emulator.faults.reset()
    assert sensor.poke(context).xcom_value == f"{seed.s3_base_prefix}/e"
