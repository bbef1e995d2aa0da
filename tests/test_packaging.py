"""What users install: the wheel's contents, the provider registration, light imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    uv = Path(sys.executable).with_name("uv")
    subprocess.run([str(uv), "build", "--wheel", "--quiet", "-o", str(out), str(ROOT)], check=True)
    (built,) = out.glob("*.whl")
    return built


def test_wheel_holds_the_package_and_not_tests_or_examples(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    package = {n for n in names if n.startswith("airflow_provider_pinpoint/")}
    for module in (
        "__init__.py",
        "_compat.py",
        "get_provider_info.py",
        "py.typed",
        "hooks/pinpoint.py",
        "operators/pinpoint.py",
        "sensors/pinpoint.py",
        "triggers/pinpoint.py",
        "testing/__init__.py",
        "testing/emulator.py",
        "testing/pytest_plugin.py",
    ):
        assert f"airflow_provider_pinpoint/{module}" in package
    assert not [n for n in names if n.startswith(("tests/", "example_dags/", "scripts/"))]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Classifier: Framework :: Apache Airflow :: Provider" in text
    assert "License-Expression: Apache-2.0" in text
    entry = zipfile.ZipFile(wheel).read(metadata.replace("METADATA", "entry_points.txt")).decode()
    assert "provider_info = airflow_provider_pinpoint.get_provider_info:get_provider_info" in entry


def test_wheel_requires_no_type_stub_packages(wheel):
    """The boto3 stubs (mypy-boto3-*) are for type-checking only: no runtime or extra requirement."""
    names = zipfile.ZipFile(wheel).namelist()
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = (
        Parser().parsestr(zipfile.ZipFile(wheel).read(metadata).decode()).get_all("Requires-Dist") or []
    )
    required = {
        re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", r.strip()).group()).lower() for r in requires
    }
    assert {"apache-airflow", "apache-airflow-providers-amazon"} <= required
    assert not [name for name in required if name.startswith("mypy-boto3")]


def test_entry_point_registers_the_provider():
    (entry,) = [
        e for e in entry_points(group="apache_airflow_provider") if e.dist.name == "airflow-provider-pinpoint"
    ]
    info = entry.load()()
    assert info["package-name"] == "airflow-provider-pinpoint" == entry.dist.name
    assert info["versions"][0] == entry.dist.version
    assert "connection-types" not in info
    modules = {
        m
        for kind in ("hooks", "sensors", "operators", "triggers")
        for i in info[kind]
        for m in i["python-modules"]
    }
    assert modules == {
        "airflow_provider_pinpoint.hooks.pinpoint",
        "airflow_provider_pinpoint.sensors.pinpoint",
        "airflow_provider_pinpoint.operators.pinpoint",
        "airflow_provider_pinpoint.triggers.pinpoint",
    }


def test_airflow_lists_the_provider_with_its_hooks_sensors_and_operators():
    airflow = str(Path(sys.executable).with_name("airflow"))
    shown = subprocess.run(
        [airflow, "providers", "get", "airflow-provider-pinpoint", "--full", "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (info,) = json.loads(next(line for line in shown.splitlines() if line.startswith("[{")))
    assert info["package-name"] == "airflow-provider-pinpoint"
    assert "airflow_provider_pinpoint.sensors.pinpoint" in json.dumps(info["sensors"])
    assert "airflow_provider_pinpoint.operators.pinpoint" in json.dumps(info["operators"])
    assert "airflow_provider_pinpoint.hooks.pinpoint" in json.dumps(info["hooks"])


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def test_provider_info_imports_neither_airflow_nor_boto():
    loaded = run_python(
        "import sys, airflow_provider_pinpoint.get_provider_info as m; m.get_provider_info();"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in {'airflow', 'boto3', 'botocore'}))"
    )
    assert loaded.strip() == "[]"


def test_importing_and_constructing_creates_no_client_and_loads_nothing_optional():
    code = """
import sys
import botocore.client, botocore.session
made = []
orig = botocore.session.Session.create_client
botocore.session.Session.create_client = lambda *a, **k: made.append(a) or orig(*a, **k)
import airflow  # on Airflow 3.3 its start-up imports each installed provider's get_provider_info
started = set(sys.modules)
from airflow_provider_pinpoint.operators.pinpoint import SegmentExportJobOperator
from airflow_provider_pinpoint.sensors.pinpoint import SegmentExportJobSensor
from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook
SegmentExportJobOperator(task_id="t", application_id="{{ params.a }}", segment_id="{{ params.s }}",
                         role_arn="{{ params.r }}", s3_url_prefix="{{ params.p }}/{{ run_id }}")
SegmentExportJobSensor(task_id="w", application_id="{{ params.a }}", segment_id="{{ params.s }}")
optional = sorted(n for n in sys.modules if n.split('.')[0] in {'aiobotocore', 'moto'}
                  or n.startswith('airflow_provider_pinpoint.testing')
                  or (n.startswith('airflow.providers.openlineage') and n not in started))
print(len(made), optional)
"""
    assert run_python(code).strip() == "0 []"


def test_the_triggerer_loads_the_trigger_without_boto3_or_the_hook():
    """The triggerer imports a trigger's module on its event loop: the heavy part waits for a poll thread."""
    code = """
import sys
from airflow.triggers.base import BaseTrigger
from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger
classpath, kwargs = SegmentExportJobTrigger(application_id="a", job_id="j").serialize()
SegmentExportJobTrigger(**kwargs)
print(sorted(n for n in sys.modules if n.split('.')[0] in {'boto3', 'botocore'}
             or n.startswith(('airflow.providers.amazon.aws', 'airflow_provider_pinpoint.hooks'))))
"""
    assert run_python(code).strip() == "[]"


def test_no_deprecation_warning_comes_from_this_package_or_its_examples(airflow_db):
    """Importing every module and loading every example DAG raises no deprecation of ours.

    Airflow 2.10 reads the metadata DB to parse a DAG scheduled on an asset alias, as its DAG
    processor would: the DB is migrated first.
    """
    code = f"""
import importlib, json, pkgutil, warnings
import airflow_provider_pinpoint as pkg
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    names = [m.name for m in pkgutil.walk_packages(pkg.__path__, "airflow_provider_pinpoint.")
             if ".testing" not in m.name]
    for name in names:
        importlib.import_module(name)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    bag = DagBag(dag_folder={str(ROOT / "example_dags")!r})
    assert not bag.import_errors, bag.import_errors
found = [(w.category, str(w.message), w.filename) for w in caught]
for path, items in (getattr(bag, "captured_warnings", None) or {{}}).items():
    # each item reads "<file>:<line>: <category>: <message>": the file that warned, not the DAG's
    found += [(DeprecationWarning, str(item), str(item).split(":", 1)[0]) for item in items]
ours = sorted({{f"{{c.__name__}}: {{m}} ({{f}})" for c, m, f in found
                if issubclass(c, (DeprecationWarning, FutureWarning))
                and ("airflow_provider_pinpoint" in f or "example_dags" in f)}})
print(json.dumps([len(names), ours]))
"""
    count, ours = json.loads(run_python(code))
    assert count >= 10
    assert ours == []
