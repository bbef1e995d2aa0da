"""
``make e2e``: the provider on a real Airflow deployment, as MWAA runs one.

Creates a PostgreSQL database of its own and an AIRFLOW_HOME under ``.airflow/e2e``, writes one
airflow.cfg for every component (Celery executor on a Redis database index of its own, flushed at
start and end), starts the Pinpoint emulator and then Airflow's components as separate processes,
each in its own process group: api-server (webserver on Airflow 2), scheduler, dag-processor
(Airflow 3), triggerer and a Celery worker. It unpauses and triggers DAG runs through the REST API,
polls them to their end and checks states, try numbers, that the Celery worker ran every task,
XCom values, the export jobs the emulator saw, and that no log holds an endpoint address. Then it
stops everything it started and drops its database, also when interrupted.

    python scripts/e2e.py                  # the full run (Airflow 3.3 or 2.10 environments)
    python scripts/e2e.py --part deferral  # one deferred operator and one deferred sensor, with
                                           # the connection stored in the metadata database

Environment: E2E_DEFERRALS (200) deferred exports at once, E2E_REDIS_DB (13) the Redis index.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".airflow" / "e2e"
AIRFLOW = Path(sys.executable).with_name("airflow")
AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW3 = int(AIRFLOW_VERSION.split(".")[0]) >= 3
ENDPOINTS = 1000
DEFERRALS = int(os.environ.get("E2E_DEFERRALS", "200"))
# How long a run, or a task of it, may wait: a busy Airflow 2 worker queues tasks behind the
# 200 deferrals for minutes, so every wait that needs the worker gets the same allowance.
RUN_WAIT = 480
REDIS_DB = int(os.environ.get("E2E_REDIS_DB", "13"))
ADDRESS = re.compile(rb"user\d{5}@example\.com|\+1555\d{7}")
MISSING_ROLE = "arn:aws:iam::123456789012:role/e2e-missing-role"


class CheckFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = probe()
        except (requests.RequestException, psycopg2.OperationalError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def group_stats(pgid: int) -> list[list[int]]:
    """The numeric /proc stat fields (after the state) of every process in a process group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = [int(f) for f in stat.read_text().rsplit(")", 1)[1].split()[1:]]
        except (OSError, ValueError):
            continue
        if len(fields) > 20 and fields[1] == pgid:
            found.append(fields)
    return found


def group_rss_kib(pgid: int) -> int:
    """Resident memory of every process in a process group, in KiB."""
    return sum(f[20] for f in group_stats(pgid)) * os.sysconf("SC_PAGESIZE") // 1024


def group_cpu_seconds(pgid: int) -> float:
    """CPU time of every process in a process group, with that of the children they reaped."""
    return sum(sum(f[10:14]) for f in group_stats(pgid)) / os.sysconf("SC_CLK_TCK")


def group_alive(proc: subprocess.Popen) -> bool:
    """Whether any process of the group led by ``proc`` is left (a finished leader is reaped first)."""
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Deployment:
    db: str
    queue: str
    api_port: int
    emulator: dict = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=dict)  # what login() found, for every thread's REST client
    local: threading.local = field(default_factory=threading.local)

    @property
    def session(self) -> requests.Session:
        """This thread's REST client (the checks run in several threads at once)."""
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers.update(self.auth.get("headers", {}))
            self.local.session.auth = self.auth.get("basic")
        return self.local.session

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api/{'v2' if AIRFLOW3 else 'v1'}"

    # --- processes -------------------------------------------------------------------------
    def start(self, name: str, *argv: str) -> subprocess.Popen:
        log = open(HOME / "components" / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=HOME, start_new_session=True
        )
        log.close()
        self.procs[name] = proc
        print(f"started {name}: pid {proc.pid} (its own process group)", flush=True)
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if group_alive(proc):
            os.killpg(proc.pid, sig)

    def stop_all(self) -> list[str]:
        """Stop every process group started, newest first; returns the ones that needed SIGKILL."""
        for name in reversed(list(self.procs)):
            self.kill(name, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(group_alive(p) for p in self.procs.values()):
            time.sleep(0.2)
        killed = [name for name, p in self.procs.items() if group_alive(p)]
        for name in killed:
            self.kill(name)
        for proc in self.procs.values():
            proc.wait(timeout=30)
        return killed

    def component_log(self, name: str) -> bytes:
        path = HOME / "components" / f"{name}.log"
        return path.read_bytes() if path.exists() else b""

    # --- REST ------------------------------------------------------------------------------
    def login(self) -> None:
        if AIRFLOW3:
            password = json.loads((HOME / "passwords.json").read_text())["e2e"]
            answer = self.session.post(
                f"http://127.0.0.1:{self.api_port}/auth/token",
                json={"username": "e2e", "password": password},
                timeout=30,
            )
            answer.raise_for_status()
            self.auth["headers"] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        else:
            self.auth["basic"] = ("e2e", self.env["E2E_PASSWORD"])
        self.session.headers.update(self.auth.get("headers", {}))
        self.session.auth = self.auth.get("basic")

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, self.api + path, timeout=30, **kwargs)
        if answer.status_code >= 400:
            raise CheckFailed(f"{method} {path}: HTTP {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def unpause(self, dag_id: str) -> None:
        self.rest("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, conf: dict) -> str:
        self.unpause(dag_id)
        body: dict[str, Any] = {"dag_run_id": run_id, "conf": conf}
        if AIRFLOW3:
            body["logical_date"] = None
        self.rest("POST", f"/dags/{dag_id}/dagRuns", json=body)
        print(f"triggered {dag_id} run {run_id}", flush=True)
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """A run's state, read from the metadata database: a poll costs the API server nothing
        (Airflow 2's webserver has one worker, which the REST calls of eight pollers would queue on)."""
        rows = self.sql("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", dag_id, run_id)
        return rows[0][0] if rows else None

    def wait_run(self, dag_id: str, run_id: str, timeout: float = RUN_WAIT) -> str:
        return wait_for(
            f"{dag_id} run {run_id} to end",
            lambda: (state := self.run_state(dag_id, run_id)) in ("success", "failed") and state,
            timeout,
            2,
        )

    # --- metadata database -----------------------------------------------------------------
    def sql(self, query: str, *args: Any) -> list[tuple]:
        with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=self.db) as con, con.cursor() as cur:
            cur.execute(query, args)
            rows = cur.fetchall()
        con.close()
        return rows

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        cols = (
            "task_id",
            "map_index",
            "state",
            "try_number",
            "hostname",
            "pid",
            "external_executor_id",
            "queue",
        )
        rows = self.sql(
            f"SELECT {', '.join(cols)} FROM task_instance WHERE dag_id = %s AND run_id = %s",
            dag_id,
            run_id,
        )
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1):
        rows = self.sql(
            "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND key = %s"
            " AND map_index = %s",
            dag_id,
            run_id,
            task_id,
            key,
            map_index,
        )
        value = rows[0][0] if rows else None
        if isinstance(value, memoryview):
            value = bytes(value)
        while isinstance(value, (str, bytes)):  # JSON text; Airflow 3.0 stores it encoded twice
            try:
                value = json.loads(value)
            except ValueError:
                break
        return value

    def count_state(self, dag_id: str, run_id: str, state: str) -> int:
        rows = self.sql(
            "SELECT count(*) FROM task_instance WHERE dag_id = %s AND run_id = %s AND state = %s",
            dag_id,
            run_id,
            state,
        )
        return rows[0][0]

    # --- emulator --------------------------------------------------------------------------
    def emulator_post(self, path: str, body: dict) -> dict:
        answer = requests.post(f"{self.emulator['endpoint_url']}/_emulator/{path}", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def emulator_faults(self) -> dict:
        answer = requests.get(f"{self.emulator['endpoint_url']}/_emulator/faults", timeout=30)
        answer.raise_for_status()
        return answer.json()

    def jobs(self) -> list[dict]:
        answer = requests.get(f"{self.emulator['endpoint_url']}/_emulator/jobs", timeout=60)
        answer.raise_for_status()
        return answer.json()["jobs"]

    def pinpoint(self):
        return boto3.client(
            "pinpoint",
            endpoint_url=self.emulator["endpoint_url"],
            region_name=self.emulator["region_name"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def new_segments(self, count: int, name: str) -> list[str]:
        client = self.pinpoint()
        return [
            client.create_segment(
                ApplicationId=self.emulator["application_id"], WriteSegmentRequest={"Name": f"{name}-{i}"}
            )["SegmentResponse"]["Id"]
            for i in range(count)
        ]

    def start_exports(self, segments: list[str], folder: str) -> None:
        """One export per segment, started from here (not by a task), each to its own prefix."""
        client = self.pinpoint()
        for segment in segments:
            client.create_export_job(
                ApplicationId=self.emulator["application_id"],
                ExportJobRequest={
                    "SegmentId": segment,
                    "RoleArn": self.emulator["role_arn"],
                    "S3UrlPrefix": f"{self.emulator['s3_base_prefix']}/{folder}/{segment}",
                },
            )

    def conf(self, **extra: Any) -> dict:
        e = self.emulator
        return {
            "application_id": e["application_id"],
            "segment_id": e["segment_id"],
            "role_arn": e["role_arn"],
            "s3_base_prefix": e["s3_base_prefix"],
            **extra,
        }


# --- set-up ----------------------------------------------------------------------------------
# Airflow's Celery settings, and the provider's task modules imported once when the worker starts
# (Celery's `imports`), before it forks its pool: each task's process starts with them loaded
# instead of importing boto3 and the provider again, which is most of a short task's CPU here.
CELERY_CONFIG = """from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

TASK_MODULES = ["airflow_provider_pinpoint.operators.pinpoint", "airflow_provider_pinpoint.sensors.pinpoint"]
CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": TASK_MODULES}
"""


def write_config(dep: Deployment, line: str) -> None:
    sql_conn = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{dep.db}"
    cfg: dict[str, dict[str, Any]] = {
        "core": {
            "dags_folder": HOME / "dags",
            "load_examples": False,
            "executor": "CeleryExecutor",
            "parallelism": 64,
            "max_active_tasks_per_dag": 64,
            "dags_are_paused_at_creation": True,
            # Plugins (OpenLineage's among them) load once in each component's main process, so a
            # task's forked process has them instead of importing them again at every task run.
            "lazy_load_plugins": False,
        },
        "database": {"sql_alchemy_conn": sql_conn},
        "celery": {
            "broker_url": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "result_backend": f"db+postgresql+psycopg2://postgres@127.0.0.1:5432/{dep.db}",
            "worker_concurrency": 8,
            "celery_config_options": "e2e_celery.CONFIG",
        },
        "operators": {"default_queue": dep.queue},
        "scheduler": {"max_tis_per_query": 64, "scheduler_heartbeat_sec": 2},
        "triggerer": {"triggerer_health_check_threshold": 10, "job_heartbeat_sec": 2},
        "logging": {"logging_level": "INFO"},
    }
    if AIRFLOW3:
        password = secrets.token_urlsafe(16)
        (HOME / "passwords.json").write_text(json.dumps({"e2e": password}))
        cfg["core"].update(
            execution_api_server_url=f"http://127.0.0.1:{dep.api_port}/execution/",
            auth_manager="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            simple_auth_manager_users="e2e:admin",
            simple_auth_manager_passwords_file=HOME / "passwords.json",
        )
        cfg["api"] = {
            "host": "127.0.0.1",
            "port": dep.api_port,
            "workers": 1,
            "base_url": f"http://127.0.0.1:{dep.api_port}",
            "secret_key": secrets.token_hex(16),
        }
        cfg["api_auth"] = {"jwt_secret": secrets.token_hex(32)}
        cfg["dag_processor"] = {"refresh_interval": 5}
    else:
        dep.env["E2E_PASSWORD"] = secrets.token_urlsafe(16)
        cfg["webserver"] = {
            "web_server_host": "127.0.0.1",
            "web_server_port": dep.api_port,
            "workers": 1,
            "secret_key": secrets.token_hex(16),
        }
        basic_auth = "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth"
        cfg["api"] = {"auth_backends": f"{basic_auth},airflow.api.auth.backend.session"}
        cfg["scheduler"]["dag_dir_list_interval"] = 5
    (HOME / "e2e_celery.py").write_text(CELERY_CONFIG)
    text = "".join(
        f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n"
        for section, values in cfg.items()
    )
    (HOME / "airflow.cfg").write_text(text)
    print(
        f"Airflow {AIRFLOW_VERSION} ({line}): AIRFLOW_HOME {HOME.relative_to(ROOT)}, database {dep.db}, "
        f"Redis index {REDIS_DB}, queue {dep.queue}, API on port {dep.api_port}",
        flush=True,
    )


def admin(*args: str) -> None:
    """An airflow command to its end; its output is shown only when it fails."""
    done = subprocess.run([str(AIRFLOW), *args], env=ENV, cwd=HOME, capture_output=True, text=True)
    if done.returncode:
        print(done.stdout + done.stderr)
        raise CheckFailed(f"airflow {' '.join(args[:2])} failed with exit code {done.returncode}")


def start_deployment(dep: Deployment, connection_in_db: bool) -> None:
    serve = [sys.executable, "-m", "airflow_provider_pinpoint.testing", "serve"]
    emulator = dep.start(
        "emulator", *serve, "--seed-endpoints", str(ENDPOINTS), "--step-seconds", "2", "--piece-size", "250"
    )
    info_line = wait_for(
        "the emulator's start line",
        lambda: (
            dep.component_log("emulator").split(b"\n")[0] if b"\n" in dep.component_log("emulator") else None
        ),
        60,
        0.2,
    )
    dep.emulator = json.loads(info_line)
    print(
        f"emulator at {dep.emulator['endpoint_url']} (pid {emulator.pid}): {ENDPOINTS} endpoints", flush=True
    )
    if not connection_in_db:
        dep.env["AIRFLOW_CONN_AWS_DEFAULT"] = dep.emulator["airflow_conn_aws_default"]
    admin("db", "migrate")
    if connection_in_db:
        admin("connections", "add", "aws_default", "--conn-json", dep.emulator["airflow_conn_aws_default"])
    if not AIRFLOW3:
        admin(
            "users",
            "create",
            "--username",
            "e2e",
            "--password",
            dep.env["E2E_PASSWORD"],
            "--role",
            "Admin",
            "--email",
            "e2e@localhost",
            "--firstname",
            "e2e",
            "--lastname",
            "e2e",
        )
    if AIRFLOW3:
        dep.start(
            "api-server", str(AIRFLOW), "api-server", "--host", "127.0.0.1", "--port", str(dep.api_port)
        )
    else:
        dep.start(
            "webserver",
            str(AIRFLOW),
            "webserver",
            "--hostname",
            "127.0.0.1",
            "--port",
            str(dep.api_port),
            "--workers",
            "1",
        )
    dep.start("scheduler", str(AIRFLOW), "scheduler", "--skip-serve-logs")
    if AIRFLOW3:
        dep.start("dag-processor", str(AIRFLOW), "dag-processor")
    start_triggerer(dep, "triggerer")
    dep.start(
        "celery-worker",
        str(AIRFLOW),
        "celery",
        "worker",
        "--queues",
        dep.queue,
        "--concurrency",
        "8",
        "--skip-serve-logs",
    )
    health = "/monitor/health" if AIRFLOW3 else "/health"
    base = dep.api if AIRFLOW3 else f"http://127.0.0.1:{dep.api_port}"

    def healthy() -> bool:
        status = requests.get(base + health, timeout=10).json()
        wanted = ["metadatabase", "scheduler", "triggerer"] + (["dag_processor"] if AIRFLOW3 else [])
        return all((status.get(name) or {}).get("status") == "healthy" for name in wanted)

    wait_for("api-server, scheduler, dag-processor and triggerer to report healthy", healthy, 180)
    wait_for("the Celery worker to be ready", lambda: b" ready." in dep.component_log("celery-worker"), 120)
    dep.login()
    print("healthy: " + ", ".join(f"{n} (pid {p.pid})" for n, p in dep.procs.items()), flush=True)


def start_triggerer(dep: Deployment, name: str) -> None:
    dep.start(name, str(AIRFLOW), "triggerer", "--skip-serve-logs")


# --- the runs and their checks ------------------------------------------------------------------
@dataclass
class Report:
    lines: list[tuple[bool, str]] = field(default_factory=list)
    runs: list[tuple[str, str, str]] = field(default_factory=list)  # (dag_id, run_id, wanted state)

    def check(self, ok: bool, what: str) -> bool:
        self.lines.append((bool(ok), what))
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        return bool(ok)

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.lines)


def check_run(
    dep: Deployment,
    report: Report,
    dag_id: str,
    run_id: str,
    state: str = "success",
    tries: dict[str, int] | None = None,
    timeout: float = RUN_WAIT,
) -> list[dict]:
    """A run's final state, every task instance's try number and that the Celery worker ran it."""
    report.runs.append((dag_id, run_id, state))
    final = dep.wait_run(dag_id, run_id, timeout)
    report.check(final == state, f"{dag_id} {run_id}: state {final} (want {state})")
    tis = dep.task_instances(dag_id, run_id)
    worker_log = dep.component_log("celery-worker")
    other_pids = {p.pid for n, p in dep.procs.items() if n != "celery-worker"}
    for ti in tis:
        name = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
        want = (tries or {}).get(ti["task_id"], 1)
        if ti["state"] in ("upstream_failed", "skipped"):
            continue
        ran_on_worker = (
            ti["queue"] == dep.queue
            and bool(ti["external_executor_id"])
            and ti["external_executor_id"].encode() in worker_log
            and bool(ti["hostname"])
            and ti["pid"] not in other_pids
        )
        if not report.check(
            ti["try_number"] == want and ran_on_worker,
            f"  {name}: {ti['state']}, try {ti['try_number']} (want {want}), celery task "
            f"{ti['external_executor_id']} on {ti['hostname']} pid {ti['pid']}",
        ):
            report.check(False, f"  {name}: ran on the Celery worker of queue {dep.queue}: {ran_on_worker}")
    return tis


EXPORT, CONSUMER, SENSOR = (
    "example_pinpoint_segment_export",
    "example_pinpoint_export_consumer",
    "example_pinpoint_export_sensor",
)
FAN_OUT, SEGMENTS = "example_pinpoint_export_fan_out", "example_pinpoint_export_segments"


def example_dag_ids() -> list[str]:
    """The dag_id of every DAG in example_dags/."""
    text = "".join(p.read_text() for p in (ROOT / "example_dags").glob("example_*.py"))
    return sorted(re.findall(r'dag_id="([^"]+)"', text))


def run_examples(dep: Deployment, report: Report) -> None:
    """Every DAG in example_dags/ must have an entry here. The fan-out and the mapped-segments
    examples start first, each on segments of their own; then the export example, whose asset
    event the scheduler turns into a consumer run, and the sensor example on the export's job."""
    conf = dep.conf()
    dep.unpause(CONSUMER)  # before the producer's event: a paused DAG would not be queued
    [fan_out_segment] = dep.new_segments(1, "fan-out")
    mapped = dep.new_segments(2, "example-mapped")
    dep.trigger(FAN_OUT, "e2e_example_fan_out", dep.conf(segment_id=fan_out_segment))
    dep.trigger(SEGMENTS, "e2e_example_segments", dep.conf(segment_ids=mapped))
    example_runs = {
        EXPORT: lambda: check_export_example(dep, report, conf),
        CONSUMER: lambda: check_consumer_example(dep, report, conf),
        SENSOR: lambda: check_sensor_example(dep, report, conf),
        FAN_OUT: lambda: check_fan_out_example(dep, report, "e2e_example_fan_out"),
        SEGMENTS: lambda: check_segments_example(dep, report, "e2e_example_segments", mapped),
    }
    for dag_id in example_dag_ids():
        if dag_id not in example_runs:
            report.check(False, f"example DAG {dag_id} has no entry in run_examples()")
    for dag_id in example_runs:  # in this order: the consumer and the sensor follow the export
        example_runs[dag_id]()


def check_export_example(dep: Deployment, report: Report, conf: dict) -> None:
    dag_id, run_id = EXPORT, "e2e_example_export"
    dep.trigger(dag_id, run_id, conf)
    check_run(dep, report, dag_id, run_id)
    prefix = dep.xcom(dag_id, run_id, "export_segment")
    summary = dep.xcom(dag_id, run_id, "count_endpoints") or {}
    report.check(prefix == f"{conf['s3_base_prefix']}/{run_id}", f"  S3UrlPrefix in XCom: {prefix}")
    report.check(summary.get("endpoints") == ENDPOINTS, f"  endpoints counted: {summary.get('endpoints')}")


def check_consumer_example(dep: Deployment, report: Report, conf: dict) -> None:
    """The scheduler, not this script, starts the consumer from the export's asset event."""
    prefix, job_id = (
        f"{conf['s3_base_prefix']}/e2e_example_export",
        dep.xcom(EXPORT, "e2e_example_export", "export_segment", "job_id"),
    )
    query = "SELECT run_id, run_type FROM dag_run WHERE dag_id = %s"
    [(run_id, run_type)] = wait_for(
        "the scheduler to start the consumer from the asset event", lambda: dep.sql(query, CONSUMER), RUN_WAIT
    )
    started_by = "asset_triggered" if AIRFLOW3 else "dataset_triggered"
    report.check(run_type == started_by, f"{CONSUMER} run {run_id}: run_type {run_type} (want {started_by})")
    check_run(dep, report, CONSUMER, run_id)
    counts = dep.xcom(CONSUMER, run_id, "count_exported_endpoints")
    runs = len(dep.sql(query, CONSUMER))
    report.check(
        counts == {prefix: {"job_id": job_id, "endpoints": ENDPOINTS}} and runs == 1,
        f"  {runs} consumer run; it read the export of job {job_id} from the event: {counts}",
    )


def check_sensor_example(dep: Deployment, report: Report, conf: dict) -> None:
    dag_id, run_id = SENSOR, "e2e_example_sensor"
    newest = dep.xcom(EXPORT, "e2e_example_export", "export_segment", "job_id")
    dep.trigger(dag_id, run_id, conf)
    check_run(dep, report, dag_id, run_id)
    summary = dep.xcom(dag_id, run_id, "count_files") or {}
    report.check(
        summary.get("job_id") == newest and summary.get("files") == ENDPOINTS // 250,
        f"  the sensor followed the newest job {newest}: {summary}",
    )


def check_fan_out_example(dep: Deployment, report: Report, run_id: str) -> None:
    tis = check_run(dep, report, FAN_OUT, run_id)
    mapped = sorted(ti["map_index"] for ti in tis if ti["task_id"] == "count_files")
    counts = [dep.xcom(FAN_OUT, run_id, "count_files", map_index=i) for i in mapped]
    total = dep.xcom(FAN_OUT, run_id, "total")
    report.check(
        len(mapped) == ENDPOINTS // 250
        and sum(c for c in counts if isinstance(c, int)) == total == ENDPOINTS,
        f"  fan-out: {len(mapped)} mapped count_files {counts}, total {total} (seeded {ENDPOINTS})",
    )


def check_segments_example(dep: Deployment, report: Report, run_id: str, segments: list[str]) -> None:
    """The operator mapped over segments: each map index's prefix, job and console link."""
    check_run(dep, report, SEGMENTS, run_id)
    base = dep.emulator["s3_base_prefix"]
    bucket, _, key = base.removeprefix("s3://").partition("/")
    want = [f"{base}/{run_id}/{i}" for i in range(len(segments))]
    prefixes = [dep.xcom(SEGMENTS, run_id, "export_segment", map_index=i) for i in range(len(segments))]
    owner = {j["Definition"]["S3UrlPrefix"]: j["Definition"].get("SegmentId") for j in dep.jobs()}
    report.check(
        prefixes == want and [owner.get(p) for p in want] == segments,
        f"  each map index exported its own segment to its own prefix: {prefixes}",
    )
    link = dep.xcom(SEGMENTS, run_id, "export_segment", "pinpoint_export_s3", map_index=1) or {}
    report.check(
        link.get("bucket") == bucket and link.get("prefix") == f"{key}/{run_id}/1/",
        f"  map index 1's console link: {link}",
    )


def check_deferred_export(dep: Deployment, report: Report, run_id: str, tries: int = 1) -> str | None:
    dag_id = "e2e_deferred_export"
    check_run(dep, report, dag_id, run_id, tries={"export": tries})
    job_id = dep.xcom(dag_id, run_id, "export", "job_id")
    count = dep.xcom(dag_id, run_id, "count_endpoints")
    report.check(bool(job_id) and count == ENDPOINTS, f"  job {job_id}, endpoints read back: {count}")
    return job_id


def run_deferral_part(dep: Deployment, report: Report) -> None:
    """One deferred operator; one deferred sensor whose export another task starts later."""
    [segment] = dep.new_segments(1, "deferred")
    dep.trigger("e2e_deferred_export", "e2e_deferred_export", dep.conf(segment_id=segment))
    check_deferred_export(dep, report, "e2e_deferred_export")
    check_sensor_then_export(dep, report)


def check_sensor_then_export(dep: Deployment, report: Report) -> None:
    dag_id, run_id = "e2e_deferred_sensors", "e2e_sensor_before_export"
    [segment] = dep.new_segments(1, "later")
    dep.trigger(dag_id, run_id, dep.conf(segment_ids=[segment]))
    wait_for("the sensor to defer", lambda: dep.count_state(dag_id, run_id, "deferred") == 1, RUN_WAIT)
    dep.trigger("e2e_start_export", "e2e_start_export", dep.conf(segment_id=segment))
    check_run(dep, report, "e2e_start_export", "e2e_start_export")
    check_run(dep, report, dag_id, run_id)
    started = dep.xcom("e2e_start_export", "e2e_start_export", "start_export", "job_id")
    seen = dep.xcom(dag_id, run_id, "wait_for_export", "job_id", map_index=0)
    report.check(started and seen == started, f"  the deferred sensor saw the job started later: {seen}")


def in_parallel(*steps: Callable[[], Any]) -> None:
    """Run independent steps at once, each in its own thread; raise the first failure after all end."""
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        futures = [pool.submit(step) for step in steps]
    for future in futures:
        future.result()


def run_full(dep: Deployment, report: Report) -> dict:
    """The lost-answer run starts alone (the next CreateExportJob of anyone loses its answer);
    once its answer is lost, every other run starts at once, each on a segment of its own (the
    examples keep the main one), beside the 200 deferrals. The read-fault run waits until those
    have deferred (a sensor's first poke on the worker would sit out botocore's backoff), so its
    faults meet the triggers' polls. The triggerer restart comes last."""
    figures: dict[str, Any] = {}
    deferred = threading.Event()

    def load() -> None:
        try:
            figures.update(deferral_load(dep, report, deferred))
        finally:
            deferred.set()

    def read_faults() -> None:
        deferred.wait()
        check_read_faults(dep, report)

    finish_lost_answer = start_lost_answer(dep, report)
    in_parallel(
        finish_lost_answer,
        lambda: run_examples(dep, report),
        lambda: run_deferral_part(dep, report),
        lambda: check_mapped_exports(dep, report),
        lambda: check_reschedule_sensor(dep, report),
        read_faults,
        lambda: check_failed_export(dep, report),
        load,
    )
    triggerer_restart(dep, report)
    return figures


def check_mapped_exports(dep: Deployment, report: Report) -> None:
    segments = dep.new_segments(3, "mapped")
    dep.trigger("e2e_mapped_exports", "e2e_mapped", dep.conf(segment_ids=segments))
    check_run(dep, report, "e2e_mapped_exports", "e2e_mapped")
    counts = [dep.xcom("e2e_mapped_exports", "e2e_mapped", "count_endpoints", map_index=i) for i in range(3)]
    report.check(counts == [ENDPOINTS] * 3, f"  endpoints per mapped export: {counts}")


def check_reschedule_sensor(dep: Deployment, report: Report) -> None:
    dag_id, run_id = "e2e_reschedule_sensor", "e2e_reschedule"
    [segment] = dep.new_segments(1, "reschedule")
    dep.trigger(dag_id, run_id, dep.conf(segment_id=segment))
    # The job answers PROCESSING to the next two GetExportJob calls, whenever the sensor's first
    # poke comes: each is one reschedule, however busy the deployment is.
    job = wait_for(
        "the export job of the reschedule run",
        lambda: next((j for j in dep.jobs() if j["Definition"].get("SegmentId") == segment), None),
        RUN_WAIT,
        0.2,
    )
    steps = ["PROCESSING", "PROCESSING", "COMPLETED"]
    dep.emulator_post("script", {"application_id": job["ApplicationId"], "job_id": job["Id"], "steps": steps})
    check_run(dep, report, dag_id, run_id)
    started = dep.xcom(dag_id, run_id, "start_export", "job_id")
    seen = dep.xcom(dag_id, run_id, "wait_for_export", "job_id")
    pokes = dep.sql(
        "SELECT count(*) FROM task_reschedule r JOIN task_instance t ON r.ti_id = t.id WHERE t.run_id = %s"
        if AIRFLOW3
        else "SELECT count(*) FROM task_reschedule WHERE run_id = %s",
        run_id,
    )[0][0]
    report.check(
        started and seen == started and pokes >= 2,
        f"  rescheduled sensor on job {started} from XCom: saw {seen}, {pokes} reschedule(s)",
    )


def check_read_faults(dep: Deployment, report: Report) -> None:
    """Throttling and 5xx answers on the read operations (of every run going on) while it runs."""
    [segment] = dep.new_segments(1, "read-faults")
    read_ops = ["GetExportJob", "GetExportJobs", "GetSegmentExportJobs"]
    dep.emulator_post("faults", {"throttle_rate": 0.4, "error_rate": 0.2, "operations": read_ops})
    dep.trigger("e2e_deferred_export", "e2e_read_faults", dep.conf(segment_id=segment))
    check_deferred_export(dep, report, "e2e_read_faults")
    faults = dep.emulator_faults()
    dep.emulator_post("faults", {"reset": True})
    report.check(
        faults["throttles_injected"] + faults["errors_injected"] > 0,
        f"  faults met on reads: {faults['throttles_injected']} throttled, "
        f"{faults['errors_injected']} server errors",
    )


def start_lost_answer(dep: Deployment, report: Report) -> Callable[[], None]:
    """Trigger the run whose CreateExportJob answer is lost; return once it was lost (and the
    fault switched off), with the rest of its checks to run."""
    [segment] = dep.new_segments(1, "lost-answer")
    dep.emulator_post("faults", {"lose_create_answers": 1})
    dep.trigger("e2e_deferred_export", "e2e_lost_answer", dep.conf(segment_id=segment))
    faults = wait_for(
        "the lost-answer run's CreateExportJob",
        lambda: (now := dep.emulator_faults())["lost_answers_injected"] and now,
        120,
        0.2,
    )
    dep.emulator_post("faults", {"reset": True})

    def finish() -> None:
        job_id = check_deferred_export(dep, report, "e2e_lost_answer", tries=2)
        report.check(
            faults["lost_answers_injected"] == 1,
            f"  lost CreateExportJob answers: {faults['lost_answers_injected']}; try 2 adopted job {job_id}",
        )

    return finish


def check_failed_export(dep: Deployment, report: Report) -> None:
    [segment] = dep.new_segments(1, "failed")
    dep.trigger(
        "e2e_deferred_export", "e2e_failed_export", dep.conf(segment_id=segment, role_arn=MISSING_ROLE)
    )
    check_run(dep, report, "e2e_deferred_export", "e2e_failed_export", state="failed")
    [failed] = [j for j in dep.jobs() if j["Definition"]["S3UrlPrefix"].endswith("/e2e_failed_export")]
    logs = b"".join(p.read_bytes() for p in task_logs("e2e_deferred_export", "e2e_failed_export", "export"))
    first = (failed.get("Failures") or ["(none)"])[0].encode()
    named = [
        line for line in logs.split(b"\n") if failed["Id"].encode() in line and b"Failures: " + first in line
    ]
    report.check(
        failed["JobStatus"] == "FAILED" and bool(named),
        f"  the failed export's error names job {failed['Id']} ({failed['JobStatus']}) and its Failures "
        f"({first.decode()}): {len(named)} log lines",
    )


def deferral_load(dep: Deployment, report: Report, deferred: threading.Event) -> dict:
    """DEFERRALS deferred sensors at once; their exports start when all have deferred (then
    ``deferred`` is set)."""
    dag_id, run_id = "e2e_deferred_sensors", "e2e_load"
    segments = dep.new_segments(DEFERRALS, "load")
    pgid = dep.procs["triggerer"].pid
    before, blocked_before = group_rss_kib(pgid), dep.component_log("triggerer").count(b"blocked")
    peak = before
    dep.trigger(dag_id, run_id, dep.conf(segment_ids=segments))

    def all_deferred() -> bool:
        nonlocal peak
        peak = max(peak, group_rss_kib(pgid))
        return dep.count_state(dag_id, run_id, "deferred") == DEFERRALS

    started = time.monotonic()
    wait_for(f"{DEFERRALS} sensors to defer", all_deferred, 420, 2)
    print(f"{DEFERRALS} sensors deferred after {time.monotonic() - started:.0f} s", flush=True)
    deferred.set()
    dep.start_exports(segments, "load")

    def done() -> bool:
        nonlocal peak
        peak = max(peak, group_rss_kib(pgid))
        return dep.run_state(dag_id, run_id) in ("success", "failed")

    wait_for("the deferred sensors to finish", done, 480, 2)
    check_run(dep, report, dag_id, run_id)
    blocked = dep.component_log("triggerer").count(b"blocked") - blocked_before
    figures = {
        "deferrals": DEFERRALS,
        "triggerer_rss_before_mib": before // 1024,
        "triggerer_rss_peak_mib": peak // 1024,
        "triggerer_rss_growth_mib": (peak - before) // 1024,
        "blocked_warnings": blocked,
    }
    print(
        f"{DEFERRALS} deferred at once: triggerer RSS {before // 1024} MiB before, peak {peak // 1024} MiB "
        f"(+{(peak - before) // 1024} MiB); 'blocked' warnings: {blocked} (goal: none)",
        flush=True,
    )
    return figures


def triggerer_restart(dep: Deployment, report: Report, count: int = 10) -> None:
    """Kill the triggerer's process group while exports run and tasks wait deferred; restart it."""
    dag_id, run_id = "e2e_deferred_sensors", "e2e_triggerer_restart"
    segments = dep.new_segments(count, "restart")
    dep.trigger(dag_id, run_id, dep.conf(segment_ids=segments))
    wait_for(f"{count} sensors to defer", lambda: dep.count_state(dag_id, run_id, "deferred") == count, 180)
    dep.start_exports(segments, "restart")
    old = dep.procs["triggerer"]
    dep.kill("triggerer")
    old.wait(timeout=30)
    wait_for("the killed triggerer's process group to be gone", lambda: not group_alive(old), 30, 0.2)
    deferred = dep.count_state(dag_id, run_id, "deferred")
    running = sum(
        j["JobStatus"] not in ("COMPLETED", "FAILED")
        for j in dep.jobs()
        if "/restart/" in j["Definition"]["S3UrlPrefix"]
    )
    report.check(
        deferred >= 2 and running >= 1,
        f"triggerer pid {old.pid} killed with its process group: {deferred} tasks deferred, "
        f"{running} exports running",
    )
    del dep.procs["triggerer"]
    dep.procs["triggerer (killed)"] = old
    start_triggerer(dep, "triggerer")
    check_run(dep, report, dag_id, run_id)
    segment_of = {j["Id"]: j["Definition"].get("SegmentId") for j in dep.jobs()}
    seen = [dep.xcom(dag_id, run_id, "wait_for_export", "job_id", map_index=i) for i in range(count)]
    report.check(
        [segment_of.get(job) for job in seen] == segments,
        f"  every sensor resumed with its own segment's job after the restart: {len(seen)}",
    )


def task_logs(dag_id: str, run_id: str | None = None, task_id: str | None = None) -> list[Path]:
    base = HOME / "logs" / f"dag_id={dag_id}"
    if run_id:
        base /= f"run_id={run_id}"
    if task_id:
        base /= f"task_id={task_id}"
    return sorted(p for p in base.rglob("*") if p.is_file())


def final_checks(dep: Deployment, report: Report) -> None:
    jobs = dep.jobs()
    per_key = Counter((j["Definition"].get("SegmentId"), j["Definition"]["S3UrlPrefix"]) for j in jobs)
    twice = {k: n for k, n in per_key.items() if n > 1}
    report.check(
        not twice,
        f"exactly one export job per segment and prefix: {len(jobs)} jobs, duplicated: {twice or 'none'}",
    )
    leaks = [
        str(p.relative_to(HOME))
        for p in (HOME / "logs").rglob("*")
        if p.is_file() and ADDRESS.search(p.read_bytes())
    ]
    leaks += [
        name for name in dep.procs if name.startswith("triggerer") and ADDRESS.search(dep.component_log(name))
    ]
    report.check(not leaks, f"no endpoint address in any task or triggerer log: {leaks or 'none found'}")


def print_logs(dep: Deployment, report: Report) -> None:
    for name in dep.procs:
        tail = dep.component_log(name).decode(errors="replace").splitlines()[-40:]
        print(f"\n--- {name} (last {len(tail)} lines of components/{name}.log)\n" + "\n".join(tail))
    for dag_id, run_id, wanted in report.runs:
        for ti in dep.task_instances(dag_id, run_id):
            if ti["state"] != "success" and wanted == "success":
                for path in task_logs(dag_id, run_id, ti["task_id"]):
                    tail = path.read_text(errors="replace").splitlines()[-40:]
                    print(f"\n--- {path.relative_to(HOME)} ({ti['state']})\n" + "\n".join(tail))


# --- main ------------------------------------------------------------------------------------
ENV: dict[str, str] = {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["full", "deferral"], default="full")
    args = parser.parse_args()
    started = time.monotonic()
    line = f"airflow-{AIRFLOW_VERSION} {args.part}"
    tag = secrets.token_hex(3)
    # Airflow 3.0's Task SDK ignores [operators] default_queue (its operators always say "default"):
    # there the queue keeps that name, still alone in this run's own Redis database.
    queue = "default" if AIRFLOW_VERSION.startswith("3.0.") else f"e2e-{tag}"
    dep = Deployment(db=f"airflow_e2e_{tag}", queue=queue, api_port=free_port())

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    admin_db = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin_db.autocommit = True
    broker = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    report = Report()
    figures: dict = {}
    try:
        shutil.rmtree(HOME, ignore_errors=True)
        (HOME / "components").mkdir(parents=True)
        shutil.copytree(ROOT / "example_dags", HOME / "dags", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "tests" / "e2e" / "dags" / "e2e_pinpoint.py", HOME / "dags")
        with admin_db.cursor() as cur:
            cur.execute(f"CREATE DATABASE {dep.db}")
        broker.flushdb()
        ENV.update({k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))})
        ENV.update(
            AIRFLOW_HOME=str(HOME),
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(HOME),  # e2e_celery.py
        )
        dep.env = ENV
        write_config(dep, line)
        start_deployment(dep, connection_in_db=args.part == "deferral")
        wanted = {
            "e2e_deferred_export",
            "e2e_deferred_sensors",
            "e2e_start_export",
            "e2e_mapped_exports",
            "e2e_reschedule_sensor",
            *example_dag_ids(),
        }
        wait_for(
            "the DAGs to be parsed",
            lambda: wanted <= {d for (d,) in dep.sql("SELECT dag_id FROM serialized_dag")},
            180,
        )
        if args.part == "deferral":
            run_deferral_part(dep, report)
        else:
            figures = run_full(dep, report)
        final_checks(dep, report)
    except (CheckFailed, KeyboardInterrupt) as exc:
        report.check(False, f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        traceback.print_exc()
        report.check(False, f"{type(exc).__name__}: {exc}")
    finally:
        if not report.ok:
            print_logs(dep, report)
        cpu = {name: round(group_cpu_seconds(p.pid)) for name, p in dep.procs.items() if group_alive(p)}
        print(f"CPU seconds by component (a killed one's are gone with it): {json.dumps(cpu)}", flush=True)
        killed = dep.stop_all()
        left = [n for n, p in dep.procs.items() if group_alive(p)]
        with admin_db.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {dep.db} WITH (FORCE)")
        admin_db.close()
        broker.flushdb()
        ports = [dep.api_port] + (
            [int(dep.emulator["endpoint_url"].rsplit(":", 1)[1])] if dep.emulator else []
        )
        busy = [p for p in ports if socket.socket().connect_ex(("127.0.0.1", p)) == 0]
        print(
            f"stopped {len(dep.procs)} process groups (SIGKILL needed: {killed or 'none'}); left running: "
            f"{left or 'none'}; ports still open: {busy or 'none'}; dropped database {dep.db}; "
            f"flushed Redis index {REDIS_DB}",
            flush=True,
        )
    passed, failed = sum(ok for ok, _ in report.lines), sum(not ok for ok, _ in report.lines)
    verdict = "passed" if report.ok else "FAILED"
    took = time.monotonic() - started
    print(f"\n=== make e2e ({line}): {verdict} in {took:.0f} s; {passed} checks passed, {failed} failed")
    if figures:
        print(f"    {json.dumps(figures)}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
