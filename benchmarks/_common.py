"""What every benchmark module shares: its command line, result rows, and process measurements.

A benchmark module defines ``run(quick: bool) -> dict`` returning ``{"rows": [...], "charts": [...]}``
and ends with ``main(run)``; ``benchmarks.run`` starts it as ``python -m benchmarks.NAME --out FILE``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

MIB = 1024 * 1024


def row(
    figure: str,
    value: float,
    unit: str,
    comparator: str,
    comparator_value: float,
    *,
    goal: str | None = None,
    met: bool | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One figure measured beside its comparator; ``goal``/``met`` when the figure has a goal."""
    return {
        "figure": figure,
        "value": float(value),
        "unit": unit,
        "comparator": comparator,
        "comparator_value": float(comparator_value),
        "goal": goal,
        "met": met,
        "note": note,
    }


def chart(
    file: str,
    title: str,
    x: Sequence[Any],
    series: dict[str, Sequence[float]],
    *,
    xlabel: str,
    ylabel: str,
    log: bool = False,
    kind: str = "line",
) -> dict[str, Any]:
    """A chart for the report to draw: one line (or bar group) per series over ``x``."""
    return {
        "file": file,
        "title": title,
        "x": list(x),
        "series": {k: [float(v) for v in vs] for k, vs in series.items()},
        "xlabel": xlabel,
        "ylabel": ylabel,
        "log": log,
        "kind": kind,
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0..1) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))])


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_status(field: str, pid: int | str = "self") -> int:
    """A memory figure of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``) in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """Measure a block: ``{"wall": seconds, "cpu": seconds}`` of this process, filled in on exit."""
    result: dict[str, float] = {}
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield result
    finally:
        result["wall"] = time.perf_counter() - wall
        result["cpu"] = cpu_seconds() - cpu


def emulator_environment(conn_uri: str, region: str) -> dict[str, str]:
    """Environment that points Airflow's ``aws_default`` and plain boto3 at an emulator."""
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": conn_uri,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


def quiet_airflow_home() -> None:
    """Give Airflow a throw-away home (no examples, no ~/airflow) before it is imported."""
    import tempfile

    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")


def main(run: Callable[[bool], dict[str, Any]]) -> None:
    """Command line of a benchmark module: ``--quick`` and ``--out FILE`` (the JSON result)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, one run")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    result = run(args.quick)
    with open(args.out, "w") as out:
        json.dump(result, out, indent=1)
