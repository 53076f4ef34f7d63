"""The benchmarks' report helper: percentiles, ratios, targets, and the printed and JSON forms.
(No benchmark runs here, and nothing is timed.)"""
from __future__ import annotations

import json
import math

import pytest

from bench.report import Check, Measure, Report, latency_summary, percentile, ratio, render, write


def make_report(**overrides) -> Report:
    fields = dict(name="sample", figure=Measure("gateway", 70.0, "req/s"), baseline=Measure("ping", 100.0, "req/s"),
                  ratio=0.7, ratio_meaning="gateway / ping",
                  checks=[Check("gateway / ping", 0.7, ">=", 0.7), Check("p99 / p50", 2.0, "<=", 3.0)],
                  params={"concurrency": 32})
    fields.update(overrides)
    return Report(**fields)


def test_percentile_interpolates_between_ranks():
    data = [4, 1, 3, 2, 5]
    assert percentile(data, 0) == 1
    assert percentile(data, 50) == 3
    assert percentile(data, 100) == 5
    assert percentile([10, 20], 25) == pytest.approx(12.5)
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(data, 101)


def test_latency_summary_reports_milliseconds():
    summary = latency_summary([0.001, 0.002, 0.003, 0.004])
    assert summary["count"] == 4
    assert summary["mean_ms"] == pytest.approx(2.5)
    assert summary["p50_ms"] == pytest.approx(2.5)
    assert summary["max_ms"] == pytest.approx(4.0)
    assert latency_summary([])["count"] == 0 and math.isnan(latency_summary([])["p99_ms"])


def test_ratio_never_divides_by_zero():
    assert ratio(3, 4) == 0.75
    assert math.isnan(ratio(1, 0))
    assert math.isnan(ratio(float("nan"), 2))


def test_checks_compare_both_ways_and_nan_never_meets():
    assert Check("a", 0.7, ">=", 0.7).met and not Check("a", 0.69, ">=", 0.7).met
    assert Check("b", 3.0, "<=", 3.0).met and not Check("b", 3.1, "<=", 3.0).met
    assert not Check("c", float("nan"), "<=", 3.0).met
    with pytest.raises(ValueError):
        Check("d", 1.0, "==", 1.0)


def test_report_is_met_only_when_every_check_is():
    assert make_report().met
    assert not make_report(checks=[Check("x", 1.0, ">=", 0.5), Check("y", 9.0, "<=", 3.0)]).met


def test_render_shows_figure_baseline_ratio_and_verdicts():
    text = render(make_report(checks=[Check("gateway / ping", 0.5, ">=", 0.7)]))
    assert "gateway: 70.0 req/s" in text
    assert "ping: 100 req/s" in text
    assert "ratio     0.7" in text
    assert "0.5 >= 0.7  -> NOT met" in text
    assert "concurrency=32" in text


def test_write_produces_json_with_null_for_missing_figures(tmp_path):
    report = make_report(ratio=float("nan"), details={"p99": float("nan"), "samples": [1.0, float("inf")]})
    path = write(report, tmp_path)
    assert path == tmp_path / "sample.json"
    body = json.loads(path.read_text())
    assert body["name"] == "sample" and body["ratio"] is None
    assert body["figure"] == {"label": "gateway", "value": 70.0, "unit": "req/s"}
    assert body["details"] == {"p99": None, "samples": [1.0, None]}
    assert [c["met"] for c in body["checks"]] == [True, True] and body["met"] is True
    assert body["machine"]["python"] and body["measured_at"].endswith("Z")


def test_notes_are_printed_after_the_targets_and_kept_in_the_json(tmp_path):
    report = make_report(notes=["ceiling: 0.8 of the ping"])
    lines = render(report).splitlines()
    assert lines.index("  note      ceiling: 0.8 of the ping") > max(
        i for i, line in enumerate(lines) if line.startswith("  target"))
    assert json.loads(write(report, tmp_path).read_text())["notes"] == ["ceiling: 0.8 of the ping"]
