"""
``make demo``: the example DAG, end to end, against the local Pinpoint emulator.

Starts the emulator with an application of 10,000 endpoints, a segment, a bucket and an export
role; runs ``airflow dags test example_pinpoint_segment_export`` with its own AIRFLOW_HOME
(``.airflow/demo`` in the repository; a user's ~/airflow is never touched); then prints the
S3UrlPrefix pulled from XCom, the number of exported files, the number of endpoints read back
through PinpointHook, and the DAG run's state. Exits non-zero if any of them is wrong.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "example_pinpoint_segment_export"
ENDPOINTS = int(os.environ.get("DEMO_ENDPOINTS", "10000"))
PIECE_SIZE = 1000


def main() -> int:
    started = time.monotonic()
    home = ROOT / ".airflow" / "demo"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    serve = [sys.executable, "-m", "airflow_provider_pinpoint.testing", "serve"]
    serve += ["--seed-endpoints", str(ENDPOINTS), "--step-seconds", "1", "--piece-size", str(PIECE_SIZE)]
    emulator = subprocess.Popen(serve, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(emulator.stdout.readline())  # type: ignore[union-attr]
        print(
            f"Pinpoint emulator at {info['endpoint_url']}: application {info['application_id']}, "
            f"segment {info['segment_id']}, {info['endpoints']} endpoints"
        )
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_AWS_DEFAULT": info["airflow_conn_aws_default"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": info["region_name"],
        }
        env.pop("AWS_PROFILE", None)
        airflow = str(Path(sys.executable).with_name("airflow"))
        run([airflow, "db", "migrate"], env, quiet=True)
        conf = {
            "application_id": info["application_id"],
            "segment_id": info["segment_id"],
            "role_arn": info["role_arn"],
            "s3_base_prefix": info["s3_base_prefix"],
        }
        dag_test = run([airflow, "dags", "test", DAG_ID, "--conf", json.dumps(conf)], env, check=False)
        state, prefix, summary = read_run(home / "airflow.db")
        os.environ.update({k: v for k, v in env.items() if k.startswith(("AIRFLOW", "AWS_"))})
        files, endpoints = read_back(prefix) if prefix else (0, 0)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)

    expected_files = max(1, math.ceil(ENDPOINTS / PIECE_SIZE))
    checks = [
        ("DAG run state", state, state == "success"),
        (
            "S3UrlPrefix (XCom return_value of export_segment)",
            prefix,
            bool(prefix) and str(prefix).startswith(info["s3_base_prefix"] + "/"),
        ),
        ("exported files", files, files == expected_files),
        ("endpoints read back through PinpointHook", endpoints, endpoints == ENDPOINTS),
        (
            "endpoints counted by the DAG's own task",
            summary and summary.get("endpoints"),
            bool(summary) and summary.get("endpoints") == ENDPOINTS,
        ),
    ]
    print("\n=== make demo ===")
    for name, value, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {value}")
    if summary:
        print(f"     endpoints by channel: {summary.get('by_channel')}")
    print(f"     airflow dags test exit code {dag_test}; {time.monotonic() - started:.0f} s in all")
    return 0 if dag_test == 0 and all(ok for *_, ok in checks) else 1


def run(command: list[str], env: dict[str, str], *, quiet: bool = False, check: bool = True) -> int:
    result = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL if quiet else None)
    if check and result.returncode:
        raise SystemExit(f"{' '.join(command[:3])} failed with exit code {result.returncode}")
    return result.returncode


def read_run(db: Path) -> tuple[str | None, str | None, dict | None]:
    """The newest run's state and the XComs of interest, read from the metadata DB."""
    with sqlite3.connect(db) as con:
        row = con.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
        if row is None:
            return None, None, None
        run_id, state = row

        def xcom(task_id: str):
            found = con.execute(
                "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ?"
                " AND key = 'return_value'",
                (DAG_ID, run_id, task_id),
            ).fetchone()
            return json.loads(found[0]) if found else None

        return state, xcom("export_segment"), xcom("count_endpoints")


def read_back(prefix: str) -> tuple[int, int]:
    from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook

    hook = PinpointHook(aws_conn_id="aws_default")
    return len(hook.list_export_files(prefix)), sum(1 for _ in hook.iter_exported_endpoints(prefix))


if __name__ == "__main__":
    sys.exit(main())
