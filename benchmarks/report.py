"""RESULTS.md and the PNG charts, from the runner's results (``results.json``'s content)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def number(value: float) -> str:
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 1 or size == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio(row: dict[str, Any]) -> str:
    if row["comparator_value"] == 0:
        return "n/a"
    return f"{row['value'] / row['comparator_value']:.3g}x"


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cores']} cores, Python {machine['python']}, Airflow {machine['airflow']}, "
        f"Amazon provider {machine['amazon_provider']}, boto3 {machine['boto3']}, "
        f"1-minute load {machine['load_at_start']:.2f} at start; {machine['platform']}; {machine['date']}"
    )


def write_report(results: dict[str, Any], titles: dict[str, str], out: Path) -> None:
    """Write ``out/RESULTS.md`` and every chart the benchmarks asked for."""
    quick = "Quick run (small sizes, one run each): checks the harness, not the goals. "
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine_line(results['machine'])}.",
        "",
        f"{quick if results['quick'] else ''}"
        f"All benchmarks: {results['total_wall_seconds']:.0f} s. Each figure stands beside its comparator, "
        "measured in the same run; ratio = ours / comparator. The machine may be shared: read the "
        "ratios, and the CPU seconds and load averages beside each benchmark.",
        "",
    ]
    goals = [(name, r) for name, b in results["benchmarks"].items() for r in b.get("rows", []) if r["goal"]]
    if goals:
        lines += [
            "## Goals",
            "",
            "| figure | goal | ours | comparator | ratio | met |",
            "|---|---|---|---|---|---|",
        ]
        for _, r in goals:
            lines.append(
                f"| {r['figure']} | {r['goal']} | {number(r['value'])} {r['unit']} | "
                f"{r['comparator']}: {number(r['comparator_value'])} | {ratio(r)} | "
                f"{'yes' if r['met'] else '**missed**'} |"
            )
        lines.append("")
    for name, result in results["benchmarks"].items():
        lines += [f"## {titles[name]}", ""]
        runs = result.get("runs", [])
        lines.append(
            f"{result['wall_seconds']:.0f} s wall, {result['cpu_seconds']:.0f} s CPU (user+sys, all its "
            f"processes), load {result['load_start']:.2f} at start and {result['load_end']:.2f} at end; "
            f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
            + (", the lowest-load one reported." if len(runs) > 1 else ".")
        )
        lines.append("")
        if result["exit_code"]:
            lines += [f"**Failed** (exit code {result['exit_code']}).", ""]
            continue
        lines += [
            "| figure | ours | comparator | comparator's | ratio | goal | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in result["rows"]:
            goal = f"{r['goal']}: {'met' if r['met'] else '**missed**'}" if r["goal"] else ""
            lines.append(
                f"| {r['figure']} | {number(r['value'])} {r['unit']} | {r['comparator']} | "
                f"{number(r['comparator_value'])} {r['unit']} | {ratio(r)} | {goal} | {r['note'] or ''} |"
            )
        lines.append("")
        for drawn in result.get("charts", []):
            draw(drawn, out / drawn["file"])
            lines += [f"![{drawn['title']}]({drawn['file']})", ""]
    (out / "RESULTS.md").write_text("\n".join(lines))


def draw(spec: dict[str, Any], path: Path) -> None:
    """One chart: lines over a numeric x, or groups of bars over labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    series = spec["series"]
    if spec["kind"] == "bar":
        width = 0.8 / max(len(series), 1)
        for number_, (label, values) in enumerate(series.items()):
            positions = [i + (number_ - (len(series) - 1) / 2) * width for i in range(len(spec["x"]))]
            axes.bar(positions, values, width, label=label)
        axes.set_xticks(range(len(spec["x"])), [str(x) for x in spec["x"]])
        if spec["log"]:
            axes.set_yscale("log")
    else:
        for label, values in series.items():
            axes.plot(spec["x"], values, marker="o", label=label)
        if spec["log"]:
            axes.set_xscale("log")
            axes.set_yscale("log")
    axes.set_title(spec["title"])
    axes.set_xlabel(spec["xlabel"])
    axes.set_ylabel(spec["ylabel"])
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
