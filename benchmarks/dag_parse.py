"""DAG parse: CPU seconds and peak memory of a whole process that parses one DAG file.

Four DAG files (``benchmarks/dags/``): our operator + sensor, the Amazon provider's Glue operator +
sensor, its Comprehend operator + sensor, and a DAG with no task. Each parse is a fresh
``python -m benchmarks._parse_dag FILE`` (a DagBag over that one file); its CPU (user + sys) and
peak RSS come from ``os.wait4``. Runs go in rounds of the four files, the order rotated each round,
so every file meets the same machine conditions; ours is paired with each other file of its round.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._common import MIB, chart, main, median, row

DAGS = Path(__file__).parent / "dags"
OURS = "pinpoint"
OTHERS = {
    "glue": "Glue operator + sensor",
    "comprehend": "Comprehend operator + sensor",
    "empty": "empty DAG",
}


def parse_once(name: str, home: str) -> tuple[float, int]:
    """CPU seconds and peak RSS (bytes) of one process parsing ``dags/NAME.py``."""
    env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._parse_dag", str(DAGS / f"{name}.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"parsing {name} failed: {errors.decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def run(quick: bool) -> dict[str, Any]:
    rounds = 1 if quick else 7
    names = [OURS, *OTHERS]
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as home:
        parse_once("empty", home)  # the first run in a new home writes its config file
        for number in range(rounds):
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(parse_once(name, home))
    rows = []
    for other, label in OTHERS.items():
        cpu_ratios = [o[0] / t[0] for o, t in zip(samples[OURS], samples[other], strict=True)]
        rss_ratios = [o[1] / t[1] for o, t in zip(samples[OURS], samples[other], strict=True)]
        amazon = other != "empty"
        for what, index, unit, ratios, scale in (
            ("CPU seconds", 0, "s", cpu_ratios, 1.0),
            ("peak RSS", 1, "MiB", rss_ratios, MIB),
        ):
            ours = median([s[index] for s in samples[OURS]]) / scale
            theirs = median([s[index] for s in samples[other]]) / scale
            rows.append(
                row(
                    f"parse a DAG with our operator + sensor: {what}",
                    ours,
                    unit,
                    label,
                    theirs,
                    goal="ratio <= 1.05" if amazon else None,
                    met=ours / theirs <= 1.05 if amazon else None,
                    note=f"per-pair ratios {min(ratios):.3f} to {max(ratios):.3f} over {rounds} pairs",
                )
            )
    return {
        "rows": rows,
        "raw": {
            name: [{"cpu_s": c, "peak_rss_bytes": m} for c, m in values] for name, values in samples.items()
        },
        "charts": [
            chart(
                "dag_parse.png",
                "Parsing one DAG file in a fresh process (median)",
                ["CPU seconds", "peak RSS (100 MiB)"],
                {
                    name: [
                        median([s[0] for s in samples[name]]),
                        median([s[1] for s in samples[name]]) / (100 * MIB),
                    ]
                    for name in names
                },
                xlabel="",
                ylabel="seconds / 100 MiB",
                kind="bar",
            )
        ],
    }


if __name__ == "__main__":
    main(run)
