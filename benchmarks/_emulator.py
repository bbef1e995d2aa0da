"""An emulator in a process of its own, driven through a pipe, so a benchmark's own figures
(CPU, memory, event-loop lag) never include the emulator's work.

``EmulatorProcess`` starts the child; ``call(fn, *args)`` runs ``fn(emulator, *args)`` there and
returns its result. The functions below are the ones the benchmarks send.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from airflow_provider_pinpoint.testing import PinpointEmulator

from ._common import proc_status


class EmulatorProcess:
    """A ``PinpointEmulator`` serving from a spawned child process (a context manager)."""

    def __init__(self, **emulator_kwargs: Any) -> None:
        self._kwargs = emulator_kwargs
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, emulator_kwargs), daemon=True)

    def __enter__(self) -> EmulatorProcess:
        self.process.start()
        info = self._conn.recv()
        self.endpoint_url: str = info["endpoint_url"]
        self.region_name: str = info["region_name"]
        self.conn_uri: str = info["conn_uri"]
        return self

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(emulator, *args)`` in the child and return what it returns."""
        self._conn.send((fn, args))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"{fn.__name__} failed in the emulator process: {value}")
        return value

    def __exit__(self, *exc_info: object) -> None:
        self._conn.send(None)
        self.process.join(timeout=60)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _serve(conn: Any, kwargs: dict[str, Any]) -> None:
    with PinpointEmulator(**kwargs) as emulator:
        conn.send(
            {
                "endpoint_url": emulator.endpoint_url,
                "region_name": emulator.region_name,
                "conn_uri": emulator.airflow_conn_uri,
            }
        )
        while (message := conn.recv()) is not None:
            fn, args = message
            try:
                conn.send((True, fn(emulator, *args)))
            except Exception as error:
                conn.send((False, f"{type(error).__name__}: {error}"))


def seed(emulator: PinpointEmulator, n_endpoints: int) -> dict[str, Any]:
    """An application with ``n_endpoints`` endpoints, its all-endpoints segment, a bucket and a role."""
    seeded = emulator.seed(n_endpoints=n_endpoints)
    return {
        "application_id": seeded.application_id,
        "segment_id": seeded.segment_id,
        "bucket": seeded.bucket,
        "role_arn": seeded.role_arn,
        "s3_base_prefix": seeded.s3_base_prefix,
    }


def running_jobs(emulator: PinpointEmulator, seeded: dict[str, Any], n: int) -> list[str]:
    """Start ``n`` export jobs of the seeded segment that report PROCESSING for as long as they are read."""
    ids = []
    for i in range(n):
        body = {
            "RoleArn": seeded["role_arn"],
            "S3UrlPrefix": f"{seeded['s3_base_prefix']}/running-{i}",
            "SegmentId": seeded["segment_id"],
        }
        job_id = emulator.store.create_export_job(seeded["application_id"], body)["Id"]
        emulator.set_job_status(seeded["application_id"], job_id, "PROCESSING")
        ids.append(job_id)
    return ids


_polls: list[tuple[float, str]] = []


def record_polls(emulator: PinpointEmulator) -> None:
    """From now on, note the time and job of every GetExportJob the emulator answers."""
    store = emulator.store
    answer = store.get_export_job

    def recorded(application_id: str, job_id: str) -> dict[str, Any]:
        _polls.append((time.time(), job_id))
        return answer(application_id, job_id)

    store.get_export_job = recorded  # type: ignore[method-assign]


def polls_since(emulator: PinpointEmulator, since: float) -> list[tuple[float, str]]:
    """The recorded GetExportJob answers (epoch seconds, job id) from ``since`` on."""
    return [poll for poll in _polls if poll[0] >= since]


def set_latency(emulator: PinpointEmulator, seconds: float) -> None:
    emulator.faults.latency = seconds


def peak_rss(emulator: PinpointEmulator) -> int:
    """The emulator process's peak resident memory (VmHWM), bytes."""
    return proc_status("VmHWM")


def seed_timed(emulator: PinpointEmulator, n_endpoints: int) -> tuple[float, dict[str, Any]]:
    """``seed`` and the wall seconds it took."""
    start = time.perf_counter()
    seeded = seed(emulator, n_endpoints)
    return time.perf_counter() - start, seeded


def export_now(emulator: PinpointEmulator, seeded: dict[str, Any], s3_url_prefix: str) -> str:
    """Export the seeded segment under ``s3_url_prefix`` (inside this process); the job's folder."""
    app = seeded["application_id"]
    body = {"RoleArn": seeded["role_arn"], "S3UrlPrefix": s3_url_prefix, "SegmentId": seeded["segment_id"]}
    job = emulator.store.create_export_job(app, body)
    deadline = time.monotonic() + 600  # exports past 100,000 endpoints run in the background
    while (status := emulator.store.get_export_job(app, job["Id"])["JobStatus"]) not in (
        "COMPLETED",
        "FAILED",
    ):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if status != "COMPLETED":
        raise RuntimeError(f"the export ended {status}")
    return f"{s3_url_prefix}/{app}/{job['Id']}"
