"""SegmentExportJobTrigger over real HTTP against the local Pinpoint emulator."""

from __future__ import annotations

import asyncio
import importlib
import json
import random
import re

import pytest

from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger
from tests.factories import start_export

NO_BOTOCORE_RETRIES = {"retries": {"mode": "standard", "total_max_attempts": 1}}


def make_trigger(**kwargs) -> SegmentExportJobTrigger:
    args = {"application_id": "app", "job_id": "job", "waiter_delay": 0, "waiter_max_attempts": 5, **kwargs}
    return SegmentExportJobTrigger(**args)


async def first_event(trigger: SegmentExportJobTrigger) -> dict:
    event = await trigger.run().asend(None)
    json.dumps(event.payload)  # the triggerer stores it: JSON-native only
    return event.payload


def test_serialize_round_trip_keeps_every_setting():
    trigger = make_trigger(
        s3_url_prefix="s3://b/p",
        fail_on_failing=True,
        aws_conn_id=None,
        region_name="eu-west-1",
        verify="/etc/ca.pem",
        botocore_config={"retries": {"max_attempts": 3}},
    )
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["aws_conn_id"] is None and kwargs["region_name"] == "eu-west-1"


async def test_success(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=10)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/run")
    event = await first_event(make_trigger(application_id=seed.application_id, job_id=job["Id"]))
    assert event == {
        "status": "success",
        "job_id": job["Id"],
        "s3_url_prefix": f"{seed.s3_base_prefix}/run",
        "message": f"Export job {job['Id']} COMPLETED (1/1 pieces completed, 10 endpoints processed).",
    }


async def test_empty_definition_reports_the_requested_prefix(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=10)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/run")
    pinpoint_emulator.set_job_status(seed.application_id, job["Id"], "COMPLETED", Definition={})
    trigger = make_trigger(
        application_id=seed.application_id, job_id=job["Id"], s3_url_prefix="s3://asked/for"
    )
    assert (await first_event(trigger))["s3_url_prefix"] == "s3://asked/for"


async def test_failed(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=10)
    job = start_export(pinpoint_emulator, seed, "s3://missing-bucket/x")
    event = await first_event(make_trigger(application_id=seed.application_id, job_id=job["Id"]))
    assert (event["status"], event["reason"], event["job_id"]) == ("error", "failed", job["Id"])
    assert "FAILED" in event["message"] and "missing-bucket" in event["message"]


async def test_failing_ends_the_wait_only_with_fail_on_failing(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=10)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/run")
    pinpoint_emulator.set_job_status(seed.application_id, job["Id"], "FAILING")
    trigger = make_trigger(application_id=seed.application_id, job_id=job["Id"], waiter_max_attempts=2)
    assert (await first_event(trigger))["reason"] == "timeout"
    trigger = make_trigger(application_id=seed.application_id, job_id=job["Id"], fail_on_failing=True)
    assert (await first_event(trigger))["reason"] == "failed"


async def test_timeout_after_max_attempts_of_a_running_job(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=10)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/run")
    pinpoint_emulator.set_job_status(seed.application_id, job["Id"], "SOMETHING_NEW")
    event = await first_event(
        make_trigger(application_id=seed.application_id, job_id=job["Id"], waiter_max_attempts=3)
    )
    assert (event["status"], event["reason"]) == ("error", "timeout")
    assert (
        "not finished after 3 polls 0 s apart (about 0 s); it keeps running in Pinpoint" in event["message"]
    )
    assert pinpoint_emulator.calls("GetExportJob") == 3


async def test_not_found_is_an_api_error_with_request_id(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=1)
    event = await first_event(make_trigger(application_id=seed.application_id, job_id="no-such-job"))
    assert (event["status"], event["reason"], event["job_id"]) == ("error", "api_error", "no-such-job")
    assert "NotFoundException" in event["message"] and "RequestID: " in event["message"]
    assert "RequestID: unknown" not in event["message"]
    assert "2026-10-30" in event["message"]


async def test_burst_of_429s_counts_every_throttled_poll_as_an_attempt(
    pinpoint_emulator, no_backoff_sleep, capsys, caplog
):
    seed = pinpoint_emulator.seed(n_endpoints=10)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/run")
    pinpoint_emulator.script_job(seed.application_id, job["Id"], ["PROCESSING", "PROCESSING", "COMPLETED"])
    pinpoint_emulator.faults.throttle_burst(6, after=1)  # after the first poll
    trigger = make_trigger(
        application_id=seed.application_id,
        job_id=job["Id"],
        waiter_max_attempts=9,  # the three real answers and the six 429s: every poll counts
        botocore_config=NO_BOTOCORE_RETRIES,
    )
    event = await first_event(trigger)
    assert event["status"] == "success"
    assert pinpoint_emulator.faults.throttles_injected == 6
    assert pinpoint_emulator.calls("GetExportJob") == 9
    logged = capsys.readouterr().out + caplog.text
    throttled = re.findall(
        r"Poll (\d)/9: Pinpoint GetExportJob [^\n]* did not answer "
        r"\(TooManyRequestsException[^\n]*\): throttled\.",
        logged,
    )
    assert sorted(set(throttled)) == ["2", "3", "4", "5", "6", "7"]  # polls 2 to 7, each logged as such


async def test_a_burst_longer_than_the_attempts_ends_in_a_timeout(pinpoint_emulator, no_backoff_sleep):
    seed = pinpoint_emulator.seed(n_endpoints=10)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/run")
    pinpoint_emulator.script_job(seed.application_id, job["Id"], ["PROCESSING", "PROCESSING", "COMPLETED"])
    pinpoint_emulator.faults.throttle_burst(6, after=1)
    trigger = make_trigger(
        application_id=seed.application_id,
        job_id=job["Id"],
        waiter_max_attempts=3,
        botocore_config=NO_BOTOCORE_RETRIES,
    )
    event = await first_event(trigger)
    assert (event["status"], event["reason"]) == ("error", "timeout")
    assert "not finished after 3 polls 0 s apart" in event["message"]
    assert pinpoint_emulator.calls("GetExportJob") == 3


async def test_a_slow_poll_does_not_block_the_event_loop(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=1)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/run")
    pinpoint_emulator.faults.latency = 0.5
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    background = asyncio.ensure_future(ticker())
    try:
        event = await first_event(make_trigger(application_id=seed.application_id, job_id=job["Id"]))
    finally:
        background.cancel()
    assert event["status"] == "success"
    assert ticks >= 10  # the loop kept running while the request waited half a second


async def test_without_job_id_waits_for_the_segments_first_export(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    trigger = make_trigger(
        application_id=seed.application_id,
        job_id=None,
        segment_id=seed.segment_id,
        waiter_delay=0.05,
        waiter_max_attempts=400,
    )
    run = trigger.run()
    polling = asyncio.ensure_future(run.asend(None))
    while pinpoint_emulator.calls("GetSegmentExportJobs") < 2:  # polls that found no job yet
        await asyncio.sleep(0.01)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/run")
    event = (await polling).payload
    assert event == {
        "status": "success",
        "job_id": job["Id"],
        "s3_url_prefix": f"{seed.s3_base_prefix}/run",
        "message": f"Export job {job['Id']} COMPLETED (1/1 pieces completed, 5 endpoints processed).",
    }


async def test_without_job_id_the_job_found_is_then_polled_by_id(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/run")
    pinpoint_emulator.script_job(seed.application_id, job["Id"], ["PROCESSING", "PROCESSING", "COMPLETED"])
    trigger = make_trigger(application_id=seed.application_id, job_id=None, segment_id=seed.segment_id)
    assert (await first_event(trigger))["job_id"] == job["Id"]
    assert pinpoint_emulator.calls("GetSegmentExportJobs") == 1
    assert pinpoint_emulator.calls("GetExportJob") == 3


async def test_without_job_id_a_segment_that_never_exports_times_out(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=5)
    trigger = make_trigger(
        application_id=seed.application_id, job_id=None, segment_id=seed.segment_id, waiter_max_attempts=2
    )
    event = await first_event(trigger)
    assert (event["reason"], event["job_id"]) == ("timeout", None)
    assert f"An export job of segment {seed.segment_id}" in event["message"]


def test_a_throttled_poll_is_followed_by_the_next_after_at_least_a_second():
    from airflow_provider_pinpoint import _waiting

    assert _waiting.THROTTLED_MIN_DELAY == 1.0  # a zero waiter_delay never hammers a throttled API


# ------------------------------------------------------------------ triggers share their clients
SETTINGS = {"aws_conn_id": "aws_default", "region_name": None, "verify": None, "botocore_config": None}


@pytest.fixture
def clients(monkeypatch):
    """A fresh set of shared clients with a clock the test sets, used by every trigger it runs."""
    from airflow_provider_pinpoint.triggers import pinpoint

    now = [1000.0]
    fresh = pinpoint.SharedClients(clock=lambda: now[0])
    fresh.now = now
    monkeypatch.setattr(pinpoint, "shared_clients", fresh)
    return fresh


async def test_triggers_with_the_same_settings_share_one_client(pinpoint_emulator, clients):
    seed = pinpoint_emulator.seed(n_endpoints=3)
    jobs = [start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/{n}") for n in range(2)]
    events = await asyncio.gather(
        *(first_event(make_trigger(application_id=seed.application_id, job_id=j["Id"])) for j in jobs)
    )
    assert [e["status"] for e in events] == ["success", "success"]
    assert clients.builds == 1


@pytest.mark.parametrize(
    "change",
    [
        {"region_name": "eu-west-1"},
        {"verify": False},
        {"botocore_config": {"read_timeout": 7}},
        {"aws_conn_id": "same_content_other_id"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_other_settings_get_a_client_of_their_own(pinpoint_emulator, clients, monkeypatch, change):
    monkeypatch.setenv("AIRFLOW_CONN_SAME_CONTENT_OTHER_ID", pinpoint_emulator.airflow_conn_uri)
    first = clients.get(SETTINGS)
    assert clients.get(SETTINGS) is first
    other = clients.get({**SETTINGS, **change})
    assert other.hook is not first.hook and clients.builds == 2


def test_an_edited_connection_reaches_new_triggers_at_once_and_running_ones_within_the_limit(
    pinpoint_emulator, clients, monkeypatch
):
    running = clients.get(SETTINGS)
    edited = json.loads(pinpoint_emulator.airflow_conn_uri)
    edited["extra"]["region_name"] = "eu-west-1"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(edited))
    new = clients.get(SETTINGS)  # a trigger that starts now reads the connection as it is
    assert new.hook.conn.meta.region_name == "eu-west-1"
    assert clients.get(SETTINGS, running) is running  # younger than the limit: kept
    clients.now[0] += clients.max_age
    assert clients.get(SETTINGS, running).hook.conn.meta.region_name == "eu-west-1"


def test_a_client_past_its_age_is_rebuilt_once_under_100_concurrent_polls(pinpoint_emulator, clients):
    from concurrent.futures import ThreadPoolExecutor

    old = clients.get(SETTINGS)
    clients.now[0] += clients.max_age + 1
    with ThreadPoolExecutor(max_workers=100) as pool:
        got = list(pool.map(lambda _: clients.get(SETTINGS, old), range(100)))
    assert clients.builds == 2
    assert len({id(c) for c in got}) == 1 and got[0] is not old


async def test_100_triggers_starting_together_build_one_client(pinpoint_emulator, clients):
    seed = pinpoint_emulator.seed(n_endpoints=1)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/shared")
    triggers = [make_trigger(application_id=seed.application_id, job_id=job["Id"]) for _ in range(100)]
    events = await asyncio.gather(*(first_event(t) for t in triggers))
    assert {e["status"] for e in events} == {"success"}
    assert clients.builds == 1


async def test_a_trigger_serialized_by_the_previous_release_still_runs(pinpoint_emulator, monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: low)  # no opening pause of up to 30 s
    seed = pinpoint_emulator.seed(n_endpoints=2)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/old")
    # As release 0.1.0 stored it in the metadata database (SegmentExportJobOperator, deferrable=True).
    stored = {
        "classpath": "airflow_provider_pinpoint.triggers.pinpoint.SegmentExportJobTrigger",
        "kwargs": {
            "application_id": seed.application_id,
            "job_id": job["Id"],
            "s3_url_prefix": f"{seed.s3_base_prefix}/old",
            "waiter_delay": 30,
            "waiter_max_attempts": 480,
            "fail_on_failing": False,
            "segment_id": None,
            "aws_conn_id": "aws_default",
            "region_name": None,
            "verify": None,
            "botocore_config": None,
        },
    }
    module, name = stored["classpath"].rsplit(".", 1)
    trigger = getattr(importlib.import_module(module), name)(**stored["kwargs"])
    event = await first_event(trigger)
    assert (event["status"], event["job_id"], event["s3_url_prefix"]) == (
        "success",
        job["Id"],
        f"{seed.s3_base_prefix}/old",
    )
    assert trigger.serialize() == (stored["classpath"], stored["kwargs"])


async def test_the_first_poll_comes_after_a_random_pause_of_up_to_waiter_delay(
    pinpoint_emulator, monkeypatch
):
    seed = pinpoint_emulator.seed(n_endpoints=2)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/pause")
    bounds, pauses, real_sleep = [], [], asyncio.sleep

    def uniform(low, high):
        bounds.append((low, high))
        return 12.5

    async def sleep(delay, *args, **kwargs):  # records each pause instead of waiting it out
        pauses.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(random, "uniform", uniform)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    trigger = SegmentExportJobTrigger(application_id=seed.application_id, job_id=job["Id"], waiter_delay=30)
    event = await first_event(trigger)
    assert (event["status"], event["job_id"]) == ("success", job["Id"])
    assert bounds[0] == (0, 30.0)
    assert pauses[0] == 12.5  # slept before the first poll


# ------------------------------------------------------------------ refused jobs and settings
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
    trigger = make_trigger(botocore_config={"read_timout": 1})  # waiter_delay=0: no opening pause
    event = (await trigger.run().asend(None)).payload
    assert (event["status"], event["reason"]) == ("error", "api_error")
    assert "read_timout" in event["message"]


def test_a_connection_that_cannot_be_read_at_refresh_keeps_the_working_client(
    pinpoint_emulator, clients, monkeypatch
):
    running = clients.get(SETTINGS)
    clients.now[0] += clients.max_age
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")  # the lookup fails, as a secrets backend outage would
    assert clients.get(SETTINGS, running) is running
    assert clients.builds == 1


def test_a_connection_edited_again_and_again_leaves_one_client_behind(
    pinpoint_emulator, clients, monkeypatch
):
    edited = json.loads(pinpoint_emulator.airflow_conn_uri)
    client = clients.get(SETTINGS)
    for n in range(3):
        edited["password"] = f"rotated-{n}"
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(edited))
        clients.now[0] += clients.max_age
        client = clients.get(SETTINGS, client)
    assert (clients.builds, len(clients)) == (4, 1)


async def test_polls_run_with_the_triggers_log_context(pinpoint_emulator, monkeypatch):
    import contextvars

    from airflow_provider_pinpoint._waiting import ExportJobWait

    seed = pinpoint_emulator.seed(n_endpoints=1)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/ctx")
    trigger_id = contextvars.ContextVar("trigger_id", default=None)  # as Airflow 3's triggerer binds it
    seen = []
    original = ExportJobWait.poll

    def poll(wait, hook):
        seen.append(trigger_id.get())
        return original(wait, hook)

    monkeypatch.setattr(ExportJobWait, "poll", poll)
    trigger_id.set(42)
    event = await first_event(make_trigger(application_id=seed.application_id, job_id=job["Id"]))
    assert event["status"] == "success" and seen == [42]  # its log lines reach the task's log


# ------------------------------------------------------------------ where the connection is read
async def test_a_trigger_reads_its_connection_once_off_the_event_loop(
    pinpoint_emulator, clients, monkeypatch
):
    import threading

    from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook

    seed = pinpoint_emulator.seed(n_endpoints=1)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/read")
    conn = PinpointHook.get_connection("aws_default")
    reads = []

    def get_connection(conn_id):
        reads.append(threading.get_ident())
        return conn

    monkeypatch.setattr(PinpointHook, "get_connection", staticmethod(get_connection))
    event = await first_event(make_trigger(application_id=seed.application_id, job_id=job["Id"]))
    assert event["status"] == "success" and clients.builds == 1
    assert len(reads) == 1 and reads[0] != threading.get_ident()  # the client was built from that reading


async def test_where_the_runner_reads_answers_on_the_event_loop_the_connection_is_read_there(
    pinpoint_emulator, clients, monkeypatch
):
    """Airflow 3.0.0 - 3.0.2: SUPERVISOR_COMMS has send_request and a lock; a lookup from another
    thread would wait forever for an answer the event loop reads instead."""
    import sys
    import threading
    import types

    from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook

    seed = pinpoint_emulator.seed(n_endpoints=1)
    job = start_export(pinpoint_emulator, seed, f"{seed.s3_base_prefix}/loop")
    conn = PinpointHook.get_connection("aws_default")
    lock = asyncio.Lock()
    reads = []

    def get_connection(conn_id):
        reads.append((threading.get_ident(), lock.locked()))
        return conn

    monkeypatch.setattr(PinpointHook, "get_connection", staticmethod(get_connection))
    comms = types.SimpleNamespace(lock=lock, send_request=None)
    monkeypatch.setitem(
        sys.modules, "airflow.sdk.execution_time.task_runner", types.SimpleNamespace(SUPERVISOR_COMMS=comms)
    )
    await lock.acquire()  # the runner's own request is waiting for its answer
    running = asyncio.ensure_future(
        first_event(make_trigger(application_id=seed.application_id, job_id=job["Id"]))
    )
    await asyncio.sleep(0.2)
    assert reads == []  # the lookup waits for the channel
    lock.release()
    event = await running
    assert event["status"] == "success" and clients.builds == 1
    assert reads == [(threading.get_ident(), False)]  # on the event loop's thread, the channel free
