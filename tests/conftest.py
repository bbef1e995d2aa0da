"""Test settings shared by the whole suite: an isolated Airflow home and no real AWS credentials.

The builders the tests share (ids, job and page bodies, tasks, a task instance) are in
``tests/factories.py``; the fixtures here build on them.
"""

from __future__ import annotations

import json
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
# OpenLineage off ([openlineage] disabled, read by the provider's 1.x and 2.x alike), so its listener
# does not run for every task of the suite; the openlineage_enabled fixture turns it on for one test.
os.environ.setdefault("AIRFLOW__OPENLINEAGE__DISABLED", "true")
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


@pytest.fixture
def openlineage_enabled():
    """OpenLineage on for one test, off again after it; yields the provider's ``conf`` module.

    Sets ``[openlineage] disabled`` to false and a console transport (the provider counts itself
    disabled while no transport is configured), and clears the provider's cached settings before and
    after. The provider's plugin decides at its import whether to register its listener, so a test
    that needs the listener in this process registers it itself.
    """
    from airflow.providers.openlineage import conf as openlineage_conf

    def clear_cached_settings() -> None:
        for value in vars(openlineage_conf).values():
            if getattr(value, "__module__", None) == openlineage_conf.__name__ and hasattr(
                value, "cache_clear"
            ):
                value.cache_clear()

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__OPENLINEAGE__DISABLED", "false")
        patch.delenv("OPENLINEAGE_DISABLED", raising=False)
        patch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps({"type": "console"}))
        clear_cached_settings()
        assert not openlineage_conf.is_disabled()
        yield openlineage_conf
    clear_cached_settings()
