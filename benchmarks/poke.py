"""API calls and time per poke: SegmentExportJobSensor against a do-it-yourself PythonSensor callable.

A segment has a history of finished export jobs (10 / 1,000 / 100,000, seeded straight into the
emulator) and one newer job that is still running. Each poke asks whether that job is done:

- our sensor with ``job_id`` (one GetExportJob), and without it (it lists the segment's jobs and
  follows the newest);
- the callable a user would write for a PythonSensor: list every page of GetSegmentExportJobs
  with a boto3 client (``PageSize="100"``, or no PageSize) and pick the job by its Id.

Calls are counted from the emulator's request log. The emulator serves from a thread of this
process, so the seconds include its work for both sides alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ._common import chart, emulator_environment, main, median, quiet_airflow_home, row, timed

OURS_WITH_ID = "sensor, job_id given"
OURS_NEWEST = "sensor, no job_id"
DIY_100 = "PythonSensor listing, PageSize=100"
DIY_DEFAULT = "PythonSensor listing, no PageSize"


def run(quick: bool) -> dict[str, Any]:
    quiet_airflow_home()
    from airflow_provider_pinpoint.testing import PinpointEmulator

    histories = [10, 1_000] if quick else [10, 1_000, 100_000]
    runs = 1 if quick else 3
    measured: dict[str, dict[int, dict[str, float]]] = {}
    with PinpointEmulator(step_seconds=0.0) as emulator:
        os.environ.update(emulator_environment(emulator.airflow_conn_uri, emulator.region_name))
        for history in histories:
            emulator.reset()
            for name, (calls, seconds, cpu) in _measure(emulator, history, runs).items():
                measured.setdefault(name, {})[history] = {"calls": calls, "seconds": seconds, "cpu": cpu}
    return _report(measured, histories)


def _measure(emulator: Any, history: int, runs: int) -> dict[str, tuple[int, float, float]]:
    import boto3

    from airflow_provider_pinpoint.sensors.pinpoint import SegmentExportJobSensor

    seeded = emulator.seed(n_endpoints=10)
    app, segment = seeded.application_id, seeded.segment_id
    emulator.seed_export_jobs(app, segment, history)
    pinpoint = emulator.client("pinpoint")
    running = pinpoint.create_export_job(
        ApplicationId=app,
        ExportJobRequest={
            "RoleArn": seeded.role_arn,
            "S3UrlPrefix": seeded.s3_base_prefix,
            "SegmentId": segment,
        },
    )["ExportJobResponse"]["Id"]
    emulator.set_job_status(app, running, "PROCESSING")
    client = boto3.session.Session().client(
        "pinpoint", endpoint_url=emulator.endpoint_url, region_name=emulator.region_name
    )

    def diy(page_size: str | None) -> Callable[[], bool]:
        def python_callable() -> bool:  # what a user writes for a PythonSensor
            params: dict[str, Any] = {"ApplicationId": app, "SegmentId": segment}
            if page_size:
                params["PageSize"] = page_size
            done = False
            while True:
                page = client.get_segment_export_jobs(**params)["ExportJobsResponse"]
                for job in page.get("Item", []):
                    if job["Id"] == running:
                        done = job["JobStatus"] == "COMPLETED"
                if not page.get("NextToken"):
                    return done
                params["Token"] = page["NextToken"]

        return python_callable

    def sensor(job_id: str | None) -> Callable[[], bool]:
        task = SegmentExportJobSensor(task_id="wait", application_id=app, segment_id=segment, job_id=job_id)
        return lambda: bool(task.poke({}))

    pokes = {
        OURS_WITH_ID: sensor(running),
        OURS_NEWEST: sensor(None),
        DIY_100: diy("100"),
        DIY_DEFAULT: diy(None),
    }
    results = {}
    for name, poke in pokes.items():
        if poke():  # warm up: clients built, models loaded
            raise RuntimeError(f"{name} saw the running job as done")
        samples = []
        for _ in range(runs):
            before = len(emulator.request_log)
            with timed() as took:
                poke()
            calls = len(emulator.request_log) - before
            samples.append((took["wall"], took["cpu"]))
        results[name] = (calls, median([s[0] for s in samples]), median([s[1] for s in samples]))
    return results


def _report(measured: dict[str, dict[int, dict[str, float]]], histories: list[int]) -> dict[str, Any]:
    rows = []
    for history in histories:
        for ours in (OURS_WITH_ID, OURS_NEWEST):
            for theirs in (DIY_100, DIY_DEFAULT):
                a, b = measured[ours][history], measured[theirs][history]
                where = f"{history:,} past jobs: {ours}"
                rows.append(row(f"{where}: API calls per poke", a["calls"], "calls", theirs, b["calls"]))
                rows.append(row(f"{where}: seconds per poke", a["seconds"], "s", theirs, b["seconds"]))
                rows.append(row(f"{where}: CPU seconds per poke", a["cpu"], "s", theirs, b["cpu"]))
    return {
        "rows": rows,
        "raw": measured,
        "charts": [
            chart(
                "poke_calls.png",
                "API calls per poke, by the segment's number of past export jobs",
                histories,
                {name: [measured[name][h]["calls"] for h in histories] for name in measured},
                xlabel="past export jobs of the segment",
                ylabel="calls per poke",
                log=True,
            )
        ],
    }


if __name__ == "__main__":
    main(run)
