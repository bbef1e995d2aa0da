"""Triggerer scale: N SegmentExportJobTriggers waiting in one event loop, against one shared client.

Each case runs in a fresh process (so its memory is its own) against an emulator in another
process, whose jobs report PROCESSING for as long as they are polled. The triggers are driven the
way Airflow 3.3's triggerer drives them (``airflow/jobs/triggerer_job_runner.py``, ``TriggerRunner``):

- its runner process configures logging with ``_configure_logs_over_json_channel``: structlog
  JSON lines to an unbuffered binary channel read by the supervisor; here the channel is
  ``/dev/null``, so the supervisor's side of the logging is not measured;
- ``create_triggers`` imports the classpath from the stored ``serialize()`` output and calls it
  with the stored kwargs (kept as JSON in the database: a JSON round trip here), yielding to the
  loop with ``asyncio.sleep(0)`` between triggers;
- ``run_trigger`` makes one task per trigger that enters a greenback portal, binds the trigger id
  to the log context, logs "trigger starting" and consumes ``async for event in trigger.run()``;
- the loop comes from ``asyncio.run`` and its default executor is left alone (``asyncio.to_thread``
  then uses at most ``min(32, cores + 4)`` threads);
- the connection comes from ``AIRFLOW_CONN_AWS_DEFAULT`` (the triggerer would ask its supervisor).

Only the trigger's public surface is used: ``serialize()``, the constructor and ``run()``.
The comparator makes the same polls through one boto3 client shared by N coroutines
(``asyncio.to_thread(client.get_export_job, ...)`` then ``asyncio.sleep(waiter_delay)``).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import multiprocessing
import os
import time
from typing import Any

from . import _emulator
from ._common import (
    MIB,
    chart,
    cpu_seconds,
    emulator_environment,
    main,
    percentile,
    proc_status,
    quiet_airflow_home,
    row,
)

WAITER_DELAY = 5.0
HEARTBEAT = 0.1
TRIGGER = "SegmentExportJobTrigger"
SHARED = "one shared client"


def cases(quick: bool) -> tuple[float, list[tuple[int, float]]]:
    """The window in seconds and the (N, emulator latency) cases."""
    if quick:
        return 6.0, [(20, 0.0), (50, 0.0), (50, 0.2)]
    return 60.0, [(100, 0.0), (500, 0.0), (1000, 0.0), (1000, 0.2)]


def run(quick: bool) -> dict[str, Any]:
    window, plan = cases(quick)
    most = max(n for n, _ in plan)
    results: dict[tuple[str, int, float], dict[str, Any]] = {}
    with _emulator.EmulatorProcess(step_seconds=0.0) as emulator:
        seeded = emulator.call(_emulator.seed, 0)
        job_ids = emulator.call(_emulator.running_jobs, seeded, most)
        emulator.call(_emulator.record_polls)
        os.environ.update(emulator_environment(emulator.conn_uri, emulator.region_name))
        quiet_airflow_home()
        for n, latency in plan:
            emulator.call(_emulator.set_latency, latency)
            for kind in (TRIGGER, SHARED):
                spec = {
                    "kind": kind,
                    "window": window,
                    "application_id": seeded["application_id"],
                    "job_ids": job_ids[:n],
                    "endpoint_url": emulator.endpoint_url,
                    "region_name": emulator.region_name,
                }
                client = _in_own_process(spec)
                polls = emulator.call(_emulator.polls_since, client["start"])
                results[(kind, n, latency)] = _figures(client, polls, n, window)
    return _report(results, plan, window)


def _in_own_process(spec: dict[str, Any]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_client_process, (spec,))


def _figures(client: dict[str, Any], polls: list[tuple[float, str]], n: int, window: float) -> dict[str, Any]:
    start, end = client["start"], client["start"] + window
    in_window = [(t, job) for t, job in polls if t <= end]
    second_half = [t for t, _ in in_window if t >= start + window / 2]
    first: dict[str, float] = {}
    for t, job in in_window:
        first.setdefault(job, t - start)
    all_polled = max(first.values()) if len(first) == n else window
    return {
        "polls_per_s": len(second_half) / (window / 2),
        "lag_p99_ms": percentile(client["lags"], 0.99) * 1000,
        "lag_max_ms": max(client["lags"], default=window) * 1000,
        "first_poll_all_s": all_polled,
        "polled": len(first),
        "memory_mib": client["memory"] / MIB,
        "memory_per_task_kib": client["memory"] / n / 1024,
        "cpu_per_poll_ms": client["cpu"] / max(len(in_window), 1) * 1000,
        "polls": len(in_window),
        "events": client["events"],
        "cancelled_cleanly": client["cancelled_cleanly"],
    }


def _client_process(spec: dict[str, Any]) -> dict[str, Any]:
    """One case: import, configure logging as the triggerer does, then run the window."""
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "client"
    import boto3
    import greenback
    from airflow.sdk.log import configure_logging, reset_logging
    from structlog.contextvars import bind_contextvars

    from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger

    reset_logging()  # type: ignore[no-untyped-call]
    channel = open(os.devnull, "wb", buffering=0)  # noqa: SIM115 - open for the whole process, as Airflow's
    configure_logging(json_output=True, output=channel, sending_to_supervisor=True)
    import structlog

    log = structlog.get_logger()
    events: list[Any] = []

    async def run_trigger(trigger_id: int, trigger: Any) -> None:
        await greenback.ensure_portal()
        bind_contextvars(trigger_id=trigger_id)
        log.info("trigger %s starting", f"ID {trigger_id}")
        async for event in trigger.run():
            await log.ainfo("Trigger fired event", result=event)
            events.append(event.payload)

    async def poll_shared(client: Any, application_id: str, job_id: str) -> None:
        while True:
            await asyncio.to_thread(client.get_export_job, ApplicationId=application_id, JobId=job_id)
            await asyncio.sleep(WAITER_DELAY)

    async def heartbeat(lags: list[float]) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(HEARTBEAT)
            lags.append(time.monotonic() - before - HEARTBEAT)

    async def window() -> dict[str, Any]:
        lags: list[float] = []
        beat = asyncio.create_task(heartbeat(lags))
        start = time.time()
        tasks = []
        if spec["kind"] == TRIGGER:
            for trigger_id, job_id in enumerate(spec["job_ids"]):
                stored = SegmentExportJobTrigger(
                    application_id=spec["application_id"],
                    job_id=job_id,
                    waiter_delay=WAITER_DELAY,
                    waiter_max_attempts=100_000,
                ).serialize()
                classpath, kwargs = json.loads(json.dumps(stored))
                await asyncio.sleep(0)
                module, _, name = classpath.rpartition(".")  # what Airflow's import_string does
                trigger = getattr(importlib.import_module(module), name)(**kwargs)
                tasks.append(asyncio.create_task(run_trigger(trigger_id, trigger)))
        else:
            client = boto3.session.Session().client(
                "pinpoint", endpoint_url=spec["endpoint_url"], region_name=spec["region_name"]
            )
            for job_id in spec["job_ids"]:
                tasks.append(asyncio.create_task(poll_shared(client, spec["application_id"], job_id)))
        await asyncio.sleep(max(0.0, start + spec["window"] - time.time()))
        memory = proc_status("VmRSS") - baseline
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        beat.cancel()
        return {
            "start": start,
            "lags": lags,
            "memory": memory,
            "cancelled_cleanly": all(isinstance(o, asyncio.CancelledError) for o in outcomes),
        }

    baseline = proc_status("VmRSS")
    cpu = cpu_seconds()
    result = asyncio.run(window())
    result["cpu"] = cpu_seconds() - cpu
    result["events"] = len(events)
    return result


def _label(n: int, latency: float) -> str:
    return f"N={n:,}" + (f", {latency * 1000:.0f} ms latency" if latency else "")


def _report(
    results: dict[tuple[str, int, float], dict[str, Any]], plan: list[tuple[int, float]], window: float
) -> dict[str, Any]:
    rows = []
    largest = max(n for n, _ in plan)
    for n, latency in plan:
        ours, shared = results[(TRIGGER, n, latency)], results[(SHARED, n, latency)]
        label = _label(n, latency)
        goals = n == largest
        expected = n / WAITER_DELAY
        rate_goal = 0.9 if latency else 0.95
        rate_ratio = ours["polls_per_s"] / expected
        rows.append(
            row(
                f"{label}: polls/s (second half of the {window:.0f} s window)",
                ours["polls_per_s"],
                "polls/s",
                f"expected N / waiter_delay ({SHARED}: {shared['polls_per_s']:.1f})",
                expected,
                goal=f">= {rate_goal}x expected" if goals else None,
                met=rate_ratio >= rate_goal if goals else None,
            )
        )
        rows.append(
            row(
                f"{label}: polls/s against {SHARED}",
                ours["polls_per_s"],
                "polls/s",
                SHARED,
                shared["polls_per_s"],
            )
        )
        lag_goals = goals and not latency
        for key, what, limit in (("lag_p99_ms", "p99", 100), ("lag_max_ms", "max", 200)):
            rows.append(
                row(
                    f"{label}: event-loop lag {what} (100 ms heartbeat)",
                    ours[key],
                    "ms",
                    SHARED,
                    shared[key],
                    goal=f"< {limit} ms" if lag_goals else None,
                    met=ours[key] < limit if lag_goals else None,
                )
            )
        rows.append(
            row(
                f"{label}: seconds until every trigger polled once",
                ours["first_poll_all_s"],
                "s",
                SHARED,
                shared["first_poll_all_s"],
                note=f"{ours['polled']:,} of {n:,} polled within the window",
            )
        )
        rows.append(
            row(
                f"{label}: memory per trigger",
                ours["memory_per_task_kib"],
                "KiB",
                SHARED,
                shared["memory_per_task_kib"],
            )
        )
        rows.append(
            row(
                f"{label}: memory growth of the process",
                ours["memory_mib"],
                "MiB",
                SHARED,
                shared["memory_mib"],
                goal="< 300 MB" if lag_goals else None,
                met=ours["memory_mib"] * MIB < 300e6 if lag_goals else None,
            )
        )
        rows.append(
            row(f"{label}: CPU per poll", ours["cpu_per_poll_ms"], "ms", SHARED, shared["cpu_per_poll_ms"])
        )
        if ours["events"] or not (ours["cancelled_cleanly"] and shared["cancelled_cleanly"]):
            raise RuntimeError(f"{label}: a trigger fired or did not cancel cleanly: {ours}")
    labels = [_label(n, latency) for n, latency in plan]
    return {
        "rows": rows,
        "raw": {f"{kind} {_label(n, latency)}": value for (kind, n, latency), value in results.items()},
        "charts": [
            chart(
                "triggerer_polls.png",
                f"Polls per second, waiter_delay {WAITER_DELAY:.0f} s",
                labels,
                {
                    TRIGGER: [results[(TRIGGER, n, lat)]["polls_per_s"] for n, lat in plan],
                    SHARED: [results[(SHARED, n, lat)]["polls_per_s"] for n, lat in plan],
                    "expected": [n / WAITER_DELAY for n, _ in plan],
                },
                xlabel="triggers in one event loop",
                ylabel="polls/s",
                kind="bar",
            ),
            chart(
                "triggerer_lag.png",
                "Event-loop lag, p99 (100 ms heartbeat)",
                labels,
                {
                    TRIGGER: [results[(TRIGGER, n, lat)]["lag_p99_ms"] for n, lat in plan],
                    SHARED: [results[(SHARED, n, lat)]["lag_p99_ms"] for n, lat in plan],
                },
                xlabel="triggers in one event loop",
                ylabel="ms",
                log=True,
                kind="bar",
            ),
        ],
    }


if __name__ == "__main__":
    main(run)
