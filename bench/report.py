"""How every benchmark states its result: the figure, the baseline measured in the same run, their
ratio, and the targets it is held to — printed for a person and written as JSON for a machine
(``bench/results/<name>.json``)."""
from __future__ import annotations

import json
import math
import operator
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_OPS = {">=": operator.ge, "<=": operator.le}


def percentile(samples: Iterable[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100) of ``samples`` by linear interpolation between ranks
    (numpy's default method); NaN for no samples."""
    data = sorted(samples)
    if not data:
        return math.nan
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0..100, not {pct}")
    rank = (len(data) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def latency_summary(seconds: Iterable[float]) -> dict:
    """count, mean, p50, p90, p99 and max of latencies given in seconds, reported in milliseconds."""
    data = sorted(seconds)
    if not data:
        return {"count": 0, "mean_ms": math.nan, "p50_ms": math.nan, "p90_ms": math.nan,
                "p99_ms": math.nan, "max_ms": math.nan}
    return {"count": len(data), "mean_ms": 1000 * sum(data) / len(data),
            "p50_ms": 1000 * percentile(data, 50), "p90_ms": 1000 * percentile(data, 90),
            "p99_ms": 1000 * percentile(data, 99), "max_ms": 1000 * data[-1]}


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN (never an exception) when the baseline is zero or missing."""
    if not denominator or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator


@dataclass(frozen=True)
class Measure:
    """One measured quantity: what it is, its value and its unit."""

    label: str
    value: float
    unit: str


@dataclass(frozen=True)
class Check:
    """A target: ``value op target`` (``op`` is ``>=`` or ``<=``)."""

    label: str
    value: float
    op: str
    target: float

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"a check compares with >= or <=, not {self.op!r}")

    @property
    def met(self) -> bool:
        """Whether the target is met (a NaN value never meets it)."""
        return not math.isnan(self.value) and _OPS[self.op](self.value, self.target)


@dataclass
class Report:
    """The result of one benchmark run."""

    name: str
    figure: Measure
    baseline: Measure
    ratio: float
    ratio_meaning: str
    checks: list[Check] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    #: references measured in the same run that put the figure in context (printed, not targets)
    notes: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        """Whether every target of the benchmark is met."""
        return all(c.met for c in self.checks)

    def to_dict(self) -> dict:
        """The JSON document written to ``bench/results/<name>.json``."""
        body = asdict(self)
        body["checks"] = [{**asdict(c), "met": c.met} for c in self.checks]
        body["met"] = self.met
        body["machine"] = {"python": platform.python_version(), "platform": platform.platform(),
                           "cpus": _cpu_count()}
        body["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return _finite(body)


def _cpu_count() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _finite(value):
    """JSON has no NaN: a missing figure is written as null."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _num(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def render(report: Report) -> str:
    """The human-readable block a benchmark prints."""
    lines = [f"== {report.name} " + "=" * max(0, 60 - len(report.name)),
             f"  figure    {report.figure.label}: {_num(report.figure.value)} {report.figure.unit}",
             f"  baseline  {report.baseline.label}: {_num(report.baseline.value)} {report.baseline.unit}",
             f"  ratio     {_num(report.ratio)}  ({report.ratio_meaning})"]
    for check in report.checks:
        verdict = "met" if check.met else "NOT met"
        lines.append(f"  target    {check.label}: {_num(check.value)} {check.op} {_num(check.target)}  -> {verdict}")
    for note in report.notes:
        lines.append(f"  note      {note}")
    if report.params:
        lines.append("  params    " + ", ".join(f"{k}={v}" for k, v in report.params.items()))
    return "\n".join(lines)


def write(report: Report, directory: Path = RESULTS_DIR) -> Path:
    """Write ``<directory>/<name>.json``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report.name}.json"
    path.write_text(json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n")
    return path


def publish(report: Report, directory: Path = RESULTS_DIR) -> Path:
    """Print the report and write its JSON (what every benchmark ends with)."""
    print(render(report), flush=True)
    path = write(report, directory)
    print(f"  written   {path}", flush=True)
    return path
