"""Test settings shared by the whole suite: an isolated Airflow home and no real AWS credentials.

The builders the tests share (ids, job and page bodies, tasks, a task instance) are in
``tests/factories.py``; the fixtures here build on them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads these when it is first imported: never touch a user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow" / "tests"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "example_dags"))
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

from tests.factories import FakeTaskInstance  # noqa: E402  (imports Airflow: after the settings above)


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated metadata DB in the test AIRFLOW_HOME (never ~/airflow)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


@pytest.fixture
def context() -> dict:
    """A task context without logical_date or dag_run, as an Airflow 3 manual run may have."""
    return {"ti": FakeTaskInstance()}


@pytest.fixture
def no_backoff_sleep(monkeypatch):
    """Keep every retry path but skip its pauses: botocore's backoff and the provider's own."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr("airflow_provider_pinpoint._waiting.THROTTLED_MIN_DELAY", 0)
    monkeypatch.setattr("airflow_provider_pinpoint.hooks.pinpoint.CREATE_RETRY_DELAY", 0)
