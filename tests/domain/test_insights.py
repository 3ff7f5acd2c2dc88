"""Insights arithmetic: success rate, duration percentiles, throughput and mean time to recovery."""

from datetime import UTC, datetime, timedelta

from rondo.domain.insights import Run, duration_metrics, mean_time_to_recovery, metrics

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def run(status: str, start_min: int, minutes: int) -> Run:
    start = T0 + timedelta(minutes=start_min)
    return Run(status, start, start + timedelta(minutes=minutes))


def test_metrics_of_a_week() -> None:
    runs = [run("success", 0, 2), run("failed", 10, 1), run("success", 40, 4), run("running", 50, 0)]
    m = metrics(runs, timedelta(days=7))
    assert (m["total_runs"], m["successful_runs"], m["failed_runs"]) == (4, 2, 1)
    assert m["success_rate"] == round(2 / 3, 4)
    assert m["throughput"] == round(4 / 7, 4)
    assert m["mttr"] == 33 * 60  # failed run ended at minute 11; the next success ended at minute 44
    assert m["duration_metrics"] == {"min": 120, "mean": 180, "median": 180, "p95": 240, "max": 240,
                                     "standard_deviation": 60.0}  # fmt: skip


def test_no_runs_and_no_recovery() -> None:
    assert duration_metrics([])["median"] is None
    assert mean_time_to_recovery([run("failed", 0, 1)]) is None
    assert metrics([], timedelta(days=1))["success_rate"] == 0.0
