"""Figures (gateway vs baseline over N repeats), the results table, and the BENCHMARKS.md section."""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from stack import REPO

BENCHMARKS = REPO / "BENCHMARKS.md"


@dataclass
class Figure:
    """One measured quantity: a value per repeat for the gateway and for its baseline."""

    section: str
    name: str
    unit: str
    gateway: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    litellm: list[float] = field(default_factory=list)
    note: str = ""


def _clean(values: list[float]) -> list[float]:
    """Drop NaN (a run that completed no request)."""
    return [v for v in values if v == v]


def _med(values: list[float]) -> float | None:
    """Median without NaN, or None."""
    values = _clean(values)
    return statistics.median(values) if values else None


def _fmt(value: float | None) -> str:
    """A number with sensible precision."""
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def _span(values: list[float]) -> str:
    """'median (min–max)'."""
    values = _clean(values)
    if not values:
        return "—"
    return f"{_fmt(_med(values))} ({_fmt(min(values))}–{_fmt(max(values))})"


def _ratio(a: list[float], b: list[float]) -> str:
    """median(a) / median(b) as '1.23×'."""
    ma, mb = _med(a), _med(b)
    if ma is None or mb is None or mb == 0:
        return "—"
    return f"{ma / mb:.2f}×"


def row(fig: Figure, with_litellm: bool) -> list[str]:
    """Table cells: gateway, baseline, paired difference, ratio (and LiteLLM)."""
    diff = [g - b for g, b in zip(fig.gateway, fig.baseline)]
    cells = [fig.section, fig.name, fig.unit, _span(fig.gateway), _span(fig.baseline),
             _span(diff), _ratio(fig.gateway, fig.baseline)]
    if with_litellm:
        cells += [_span(fig.litellm), _ratio(fig.gateway, fig.litellm)]
    return cells + [fig.note]


def table(figures: list[Figure]) -> str:
    """A Markdown table of every figure."""
    lite = any(f.litellm for f in figures)
    head = ["section", "figure", "unit", "gateway median (min–max)", "baseline median (min–max)",
            "gateway − baseline median (min–max)", "ratio gw/base"]
    if lite:
        head += ["LiteLLM median (min–max)", "ratio gw/LiteLLM"]
    head.append("note")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row(f, lite)) + " |" for f in figures]
    return "\n".join(lines)


def _cpu_model() -> str:
    """'model name' from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")),
                        platform.machine())
    except OSError:
        return platform.machine()


def _ram_gib() -> float:
    """MemTotal in GiB."""
    with open("/proc/meminfo", encoding="utf-8") as fh:
        kb = int(next(ln for ln in fh if ln.startswith("MemTotal")).split()[1])
    return kb / 1024 / 1024


def _git(*args: str) -> str:
    """Output of one git command in the repository, trailing newline removed ('' on failure)."""
    try:
        return subprocess.run(["git", *args], cwd=REPO, text=True, capture_output=True,
                              timeout=10).stdout.rstrip("\n")
    except (OSError, subprocess.SubprocessError):
        return ""


def code_version() -> str:
    """HEAD's short hash, plus a warning when application files differ from it (call at start)."""
    dirty = [ln[3:] for ln in _git("status", "--porcelain", "--untracked-files=no").splitlines()
             if not ln[3:].startswith(("bench/", "BENCHMARKS.md"))]
    head = _git("rev-parse", "--short", "HEAD") or "?"
    return head + (f" + uncommitted changes in {len(dirty)} application file(s)" if dirty else "")


def machine_lines(load_start: tuple, load_end: tuple, version: str) -> list[str]:
    """CPU model, cores, RAM, Python, code version at start, and how busy the machine was."""
    end = _git("rev-parse", "--short", "HEAD") or "?"
    moved = "" if version.startswith(end) else f" (HEAD moved to {end} during the run)"
    return [f"- Machine: {_cpu_model()}, {os.cpu_count()} cores, {_ram_gib():.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}",
            f"- Python {platform.python_version()} ({platform.python_implementation()}); "
            f"code under test: commit {version} when the server started{moved}",
            f"- Load average (1/5/15 min) at start {'/'.join(f'{x:.2f}' for x in load_start)}, "
            f"at end {'/'.join(f'{x:.2f}' for x in load_end)} — the machine is shared, so "
            "other work competes for the 2 cores."]


def section(mode: str, command: str, context: list[str], figures: list[Figure],
            notes: list[str]) -> str:
    """The Markdown section for one run."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"<!-- bench/run.py {mode} start -->", f"## bench/run.py — {mode} run ({when})", "",
           f"Command: `{command}`", "", *context, "", table(figures), ""]
    if notes:
        out += ["Notes:", "", *[f"- {n}" for n in notes], ""]
    out.append(f"<!-- bench/run.py {mode} end -->")
    return "\n".join(out)


def write_section(mode: str, text: str, path: Path = BENCHMARKS) -> None:
    """Replace this mode's section in BENCHMARKS.md, or append it."""
    start, end = f"<!-- bench/run.py {mode} start -->", f"<!-- bench/run.py {mode} end -->"
    old = path.read_text(encoding="utf-8") if path.exists() else (
        "# Benchmarks\n\nWritten by `python bench/run.py` (see bench/README.md). Each figure is "
        "the median over repeats, with min–max, next to the direct-to-mock baseline.\n")
    if start in old and end in old:
        before, rest = old.split(start, 1)
        new = before + text + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new, encoding="utf-8")
