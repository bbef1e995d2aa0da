"""The one polling core: every path that waits gives the same outcome for the same job history.

Five paths wait for an export job: the operator waiting on the worker, the operator deferred to
the trigger, the sensor poking, the sensor rescheduled (under ``dag.test()``, with its
task_reschedule rows) and the sensor deferred. Each case below scripts one job history over the
wire (the emulator, its TLS mode, or a closed port) and drives it through all five.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_pinpoint import _waiting
from airflow_provider_pinpoint._compat import AirflowFailException, AirflowSensorTimeout
from airflow_provider_pinpoint._waiting import ExportJobWait, Outcome
from airflow_provider_pinpoint.hooks.pinpoint import (
    PinpointApiError,
    PinpointHook,
    PinpointTransientError,
    PinpointUnreachableError,
)
from airflow_provider_pinpoint.operators.pinpoint import ExportJobTimeoutError
from airflow_provider_pinpoint.testing import PinpointEmulator
from tests.factories import (
    FakeTaskInstance,
    execute,
    fresh_dag,
    make_operator,
    make_sensor,
    start_export,
    task_states,
)

PATHS = ("operator waiting", "operator deferred", "sensor poke", "sensor reschedule", "sensor deferred")
NO_RETRIES = {"retries": {"mode": "standard", "total_max_attempts": 1}}


def expected_polls_with_5xx(rate: float, answers: int) -> int:
    """Polls until ``answers`` requests got through when each fails with probability ``rate``."""
    draws, polls, ok = random.Random(0), 0, 0  # the emulator's fault generator, reseeded per path
    while ok < answers:
        polls += 1
        ok += draws.random() >= rate
    return polls


@dataclass
class Case:
    """A job history and what every path must make of it."""

    steps: list[str] | None  # scripted JobStatus answers; None: a job id the API never knew
    outcome: str  # completed, failed, timeout, api_error, unreachable
    polls: int
    faults: dict[str, Any] = field(default_factory=dict)
    endpoint: str = "emulator"  # or "tls" (a certificate that fails verification), "unreachable"
    fail_on_failing: bool = False
    botocore_config: dict[str, Any] = field(default_factory=lambda: dict(NO_RETRIES))
    interval: float = 0.05  # waiter_delay and poke_interval, seconds
    timeout: float = 5.0  # the sensor's timeout; the operator gets ceil(timeout / interval) + 1 polls
    time_bound: bool = False  # ends by time, so the poll count may differ by a poll or two (reschedule more)
    message: str = ""  # a part of the final message every path shows


CASES = {
    "completed after 3 polls": Case(["PROCESSING", "PROCESSING", "COMPLETED"], "completed", 3),
    "FAILED": Case(["PROCESSING", "FAILED"], "failed", 2, message="ended FAILED"),
    "FAILING with fail_on_failing": Case(
        ["PROCESSING", "FAILING"], "failed", 2, fail_on_failing=True, message="ended FAILING"
    ),
    "FAILING then FAILED": Case(["FAILING", "FAILING", "FAILED"], "failed", 3, message="ended FAILED"),
    "20 answers 429": Case(
        ["PROCESSING", "COMPLETED"],
        "completed",
        4,  # one answer, two polls of ten throttled tries each, then COMPLETED
        faults={"burst": 20},
        botocore_config={"retries": {"mode": "standard", "total_max_attempts": 10}},
    ),
    "5xx answers": Case(
        ["PROCESSING", "PROCESSING", "PROCESSING", "COMPLETED"],
        "completed",
        expected_polls_with_5xx(0.3, 4),
        faults={"error_rate": 0.3},
    ),
    "unknown JobStatus": Case(["SOMETHING_NEW", "SOMETHING_NEW", "COMPLETED"], "completed", 3),
    "never finishing": Case(
        ["PROCESSING"], "timeout", 7, interval=0.5, timeout=3.0, time_bound=True, message="not finished"
    ),
    "certificate failure": Case(None, "api_error", 1, endpoint="tls", message="did not verify"),
    "unreachable endpoint": Case(
        None,
        "unreachable",
        4,  # polls at 0, 0.2, 0.4 and 0.6 s; the window (patched) is 0.5 s
        endpoint="unreachable",
        interval=0.2,
        time_bound=True,
        message="could not be reached",
    ),
    "permanent API error": Case(None, "api_error", 1, message="NotFoundException"),
}

ERRORS = {
    "failed": (AirflowFailException, AirflowFailException),
    "timeout": (ExportJobTimeoutError, AirflowSensorTimeout),
    "api_error": (PinpointApiError, PinpointApiError),
    "unreachable": (PinpointUnreachableError, PinpointUnreachableError),
}


@pytest.fixture(scope="module")
def tls_emulator():
    with PinpointEmulator(tls=True) as emulator:
        yield emulator


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Recorder:
    """Counts the core's polls on every path, and switches the case's faults on at the first."""

    def __init__(self, emulator, case: Case) -> None:
        self.emulator, self.case, self.polls = emulator, case, 0

    def install(self, monkeypatch) -> None:
        original = ExportJobWait.poll

        def poll(wait, hook):
            if self.polls == 0:
                if "burst" in self.case.faults:
                    self.emulator.faults.throttle_burst(self.case.faults["burst"], after=1)
                self.emulator.faults.error_rate = self.case.faults.get("error_rate", 0.0)
            self.polls += 1
            return original(wait, hook)

        monkeypatch.setattr(ExportJobWait, "poll", poll)


def run_task(task, context):
    """Execute a task in this process; a deferral runs its trigger inline. Returns (result, error)."""
    try:
        return execute(task, context), None
    except Exception as error:
        return None, error


def run_path(path: str, case: Case, emulator, seed, job_id: str, prefix: str, capsys):
    """Run one path; returns (outcome, message) as a user sees them."""
    settings = {"botocore_config": case.botocore_config, "fail_on_failing": case.fail_on_failing}
    if path == "sensor reschedule":
        dag = fresh_dag(
            "example_pinpoint_export_sensor",
            mode="reschedule",
            poke_interval=case.interval,
            # the scheduler spaces pokes a second or more apart: a case that ends by its outcome
            # must not run into the timeout first
            timeout=case.timeout if case.time_bound else 60,
            retries=0,  # one try: the example's retry (advised for reschedule mode) would add a second
            job_id=job_id,
            **settings,
        )
        dag_run = dag.test(run_conf={"application_id": seed.application_id, "segment_id": seed.segment_id})
        captured = capsys.readouterr()
        log = captured.out + captured.err
        if task_states(dag_run)["wait_for_export"] == "success":
            return "completed", log
        raised = [name for name, (_, error) in ERRORS.items() if f"{error.__name__}: " in log]
        return (raised[0] if len(raised) == 1 else f"failed with {raised}"), log
    context = {"ti": FakeTaskInstance()}
    if path.startswith("operator"):
        task = make_operator(
            seed,
            s3_url_prefix=prefix,
            waiter_delay=case.interval,
            waiter_max_attempts=math.ceil(case.timeout / case.interval) + 1,
            deferrable=path.endswith("deferred"),
            **settings,
        )
    else:
        task = make_sensor(
            seed,
            job_id=job_id,
            poke_interval=case.interval,
            timeout=case.timeout,
            deferrable=path.endswith("deferred"),
            **settings,
        )
    result, error = run_task(task, context)
    if error is None:
        assert result == prefix
        assert context["ti"].xcom["job_id"] == job_id or path.startswith("operator")
        return "completed", ""
    outcome = next(
        (name for name, classes in ERRORS.items() if type(error) in classes),
        f"unexpected {type(error).__name__}: {error}",
    )
    assert isinstance(error, ERRORS[outcome][0 if path.startswith("operator") else 1])
    return outcome, str(error)


def same_words(message: str, job_id: str, segment_id: str) -> str:
    """A message without what differs by design: the job, a segment the sensor names, the RequestID."""
    message = message.replace(job_id, "<job>").replace(f", segment '{segment_id}'", "")
    return re.sub(r"RequestID: [\w-]+", "RequestID: <id>", message)


def reschedule_rows() -> int:
    """The task_reschedule rows of the sensor DAG's newest run (Airflow 3 keys them by ti_id)."""
    from airflow.settings import Session
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    newest = "(SELECT run_id FROM dag_run WHERE dag_id = :d ORDER BY id DESC LIMIT 1)"
    queries = (
        "SELECT count(*) FROM task_reschedule r JOIN task_instance t ON r.ti_id = t.id"
        f" WHERE t.dag_id = :d AND t.run_id = {newest}",
        f"SELECT count(*) FROM task_reschedule WHERE dag_id = :d AND run_id = {newest}",
    )
    for query in queries:
        with Session() as session:
            try:
                return int(session.execute(text(query), {"d": "example_pinpoint_export_sensor"}).scalar())
            except SQLAlchemyError:
                continue
    raise AssertionError("task_reschedule could not be read")


@pytest.mark.parametrize("name", CASES)
def test_every_path_gives_the_same_outcome(
    name, airflow_db, pinpoint_emulator, tls_emulator, no_backoff_sleep, monkeypatch, capsys
):
    case = CASES[name]
    monkeypatch.setattr(_waiting, "UNREACHABLE_AFTER", 0.5)
    seed = pinpoint_emulator.seed(n_endpoints=4)
    endpoint = {"tls": tls_emulator.endpoint_url, "unreachable": f"http://127.0.0.1:{closed_port()}"}
    if case.endpoint in endpoint:
        extra = {"endpoint_url": endpoint[case.endpoint], "region_name": pinpoint_emulator.region_name}
        conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    if case.steps is None:  # a job the wait can never read: the operator's create is not the point
        monkeypatch.setattr(
            PinpointHook,
            "start_or_adopt_export_job",
            lambda *args, **kwargs: ({"Id": "no-such-job", "JobStatus": "CREATED"}, False),
        )
    results = {}
    for path in PATHS:
        recorder = Recorder(pinpoint_emulator, case)
        recorder.install(monkeypatch)
        pinpoint_emulator.faults.reset()
        prefix = f"{seed.s3_base_prefix}/{path.replace(' ', '-')}"
        job_id = "no-such-job"
        if case.steps is not None and path.startswith("operator"):
            pinpoint_emulator.script_job(seed.application_id, None, case.steps)
        elif case.steps is not None:
            job_id = start_export(pinpoint_emulator, seed, prefix)["Id"]
            pinpoint_emulator.script_job(seed.application_id, job_id, case.steps)
        outcome, message = run_path(path, case, pinpoint_emulator, seed, job_id, prefix, capsys)
        if case.steps is not None and path.startswith("operator"):
            job_id = pinpoint_emulator.client("pinpoint").get_export_jobs(ApplicationId=seed.application_id)
            job_id = max(job_id["ExportJobsResponse"]["Item"], key=lambda j: j["CreationDate"])["Id"]
        results[path] = (outcome, recorder.polls, same_words(message, job_id, seed.segment_id))
        expected = case.outcome
        if path == "sensor reschedule" and case.outcome == "unreachable":
            # nothing survives between pokes in reschedule mode: the sensor's timeout ends the wait
            expected = "timeout"
        assert outcome == expected, (path, outcome, message)
        if not (expected == "timeout" and path in {"sensor poke", "sensor reschedule"}):
            assert case.message in message, (path, message)  # Airflow words a sensor's own timeout
        if path == "sensor reschedule":  # every poke but the last was rescheduled
            assert reschedule_rows() == recorder.polls - 1
    polls = {path: polls for path, (_, polls, _) in results.items()}
    if not case.time_bound:
        assert set(polls.values()) == {case.polls}, polls
    else:  # it ends by time (a sensor's timeout, the unreachable window): how many polls fit
        # depends on how fast they go, so the counts are bounded, not equal; an operator's own
        # budget of polls is counted exactly
        if case.outcome == "timeout":  # the operator's budget is its polls
            assert polls["operator waiting"] == polls["operator deferred"] == case.polls, polls
        for path in ("operator waiting", "operator deferred", "sensor poke", "sensor deferred"):
            first_check = 1 if path == "sensor deferred" and case.outcome == "unreachable" else 0
            assert 1 <= polls[path] - first_check <= case.polls + 2, polls  # a slow first poll may use it all
        assert 1 <= polls["sensor reschedule"] <= math.ceil(case.timeout) + 2, polls  # pokes >= 1 s apart
    if case.outcome in {"failed", "api_error", "unreachable"}:  # the provider's message, on every path
        messages = {results[path][2] for path in PATHS if path != "sensor reschedule"}
        if case.outcome == "unreachable":  # it says how long: compare from the last error on
            messages = {m[m.index("the last error") :] for m in messages}
        assert len(messages) == 1, "\n".join(messages)


# ------------------------------------------------------------------ the core on its own
class Throttled:
    """A hook whose every read is throttled."""

    def get_export_job(self, application_id, job_id):
        raise PinpointTransientError("Pinpoint GetExportJob did not answer: throttled.", reason="throttled")


class Reading:
    def get_export_job(self, application_id, job_id):
        return {"Id": job_id, "JobStatus": "PROCESSING"}


def test_a_throttled_poll_asks_for_a_pause_of_at_least_a_second():
    wait = ExportJobWait(application_id="a", job_id="j", waiter_delay=0, max_attempts=5)
    assert wait.poll(Throttled()) is None
    assert wait.next_delay == 1.0  # waiter_delay=0 never hammers a throttled API
    assert wait.poll(Reading()) is None
    assert wait.next_delay == 0.0
    wait = ExportJobWait(application_id="a", job_id="j", waiter_delay=30, max_attempts=5)
    wait.poll(Throttled())
    assert wait.next_delay == 30.0


def test_every_poll_is_an_attempt_whatever_it_met():
    wait = ExportJobWait(application_id="a", job_id="j", waiter_delay=0, max_attempts=3)
    assert wait.poll(Throttled()) is None
    assert wait.poll(Reading()) is None
    outcome = wait.poll(Throttled())
    assert outcome is not None and outcome.reason == "timeout"
    assert "not finished after 3 polls 0 s apart" in outcome.message


class Unreachable:
    def get_export_job(self, application_id, job_id):
        raise PinpointTransientError("Could not connect to http://pinpoint.example", reason="unreachable")


def test_unreachable_for_the_whole_window_ends_the_wait():
    now = [0.0]
    wait = ExportJobWait(application_id="a", job_id="j", waiter_delay=60, clock=lambda: now[0])
    for now[0] in (0.0, 300.0, 600.0, 899.0):
        assert wait.poll(Unreachable()) is None
    now[0] = 900.0
    outcome = wait.poll(Unreachable())
    assert outcome is not None and outcome.reason == "unreachable"
    assert "could not be reached for 900 s (5 polls)" in outcome.message
    assert "http://pinpoint.example" in outcome.message


def test_an_answer_restarts_the_unreachable_window():
    now = [0.0]
    wait = ExportJobWait(application_id="a", job_id="j", waiter_delay=60, clock=lambda: now[0])
    wait.poll(Unreachable())
    now[0] = 800.0
    wait.poll(Reading())
    for now[0] in (850.0, 1200.0, 1700.0):
        assert wait.poll(Unreachable()) is None
    now[0] = 1750.0
    assert wait.poll(Unreachable()).reason == "unreachable"


def test_a_budget_spent_on_unreachable_polls_is_unreachable_not_a_timeout():
    wait = ExportJobWait(application_id="a", job_id="j", waiter_delay=0, max_attempts=2)
    wait.poll(Unreachable())
    assert wait.poll(Unreachable()).reason == "unreachable"
    wait = ExportJobWait(application_id="a", job_id="j", waiter_delay=0, max_attempts=2)
    wait.poll(Reading())
    assert wait.poll(Unreachable()).reason == "timeout"


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(
            "completed",
            "j",
            "Export job j COMPLETED (1/1 pieces completed, 3 endpoints processed).",
            "s3://b/p",
        ),
        Outcome("failed", "j", "Pinpoint export job j ended FAILED"),
        Outcome("timeout", "j", "not finished"),
        Outcome("api_error", "j", "Forbidden"),
        Outcome("unreachable", None, "could not be reached"),
    ],
    ids=lambda o: o.reason,
)
def test_an_outcome_survives_the_trip_through_a_trigger_event(outcome):
    event = json.loads(json.dumps(outcome.to_event()))
    assert Outcome.from_event(event) == outcome


def test_a_resumed_task_logs_the_final_state_and_the_prefix_it_pushes(pinpoint_emulator, capsys, caplog):
    seed = pinpoint_emulator.seed(n_endpoints=12)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/logged")
    sensor = make_sensor(seed, job_id=job["Id"])
    event = asyncio.run(_trigger_event(seed, job["Id"]))
    assert sensor.execute_complete({"ti": FakeTaskInstance()}, event) == f"{seed.s3_base_prefix}/logged"
    logged = capsys.readouterr().out + caplog.text
    assert f"Export job {job['Id']} COMPLETED (1/1 pieces completed, 12 endpoints processed)." in logged
    assert f"Export job {job['Id']} wrote to {seed.s3_base_prefix}/logged; pushing it to XCom." in logged


async def _trigger_event(seed, job_id: str) -> dict:
    from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger

    trigger = SegmentExportJobTrigger(application_id=seed.application_id, job_id=job_id, waiter_delay=0)
    return (await trigger.run().asend(None)).payload


def test_an_answer_after_unreachable_polls_is_not_called_unreachable():
    class NotFound:
        def get_export_job(self, application_id, job_id):
            raise PinpointApiError("Pinpoint GetExportJob failed: NotFoundException")

    wait = ExportJobWait(application_id="a", job_id="j", waiter_delay=0)
    wait.poll(Unreachable())
    with pytest.raises(PinpointApiError):
        wait.poll(NotFound())
    assert not wait.all_unreachable  # a never_fail skip of the NotFound stays a skip
