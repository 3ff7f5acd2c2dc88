"""Insights: success rates, durations, throughput and recovery time of workflow and job runs.

Pure arithmetic over finished runs, in the shape of CircleCI's Insights API (durations in seconds).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOWS = {
    "last-24-hours": timedelta(hours=24),
    "last-7-days": timedelta(days=7),
    "last-30-days": timedelta(days=30),
    "last-60-days": timedelta(days=60),
    "last-90-days": timedelta(days=90),
}
FAILED = {"failed", "error", "infrastructure_fail", "timedout", "failing"}


@dataclass(frozen=True)
class Run:
    status: str
    created_at: datetime
    stopped_at: datetime | None

    @property
    def duration_s(self) -> int | None:
        if self.stopped_at is None:
            return None
        return max(int((self.stopped_at - self.created_at).total_seconds()), 0)


def duration_metrics(durations: Sequence[int]) -> dict[str, int | float | None]:
    if not durations:
        return {"min": None, "mean": None, "median": None, "p95": None, "max": None, "standard_deviation": None}
    ordered = sorted(durations)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "min": ordered[0],
        "mean": int(statistics.fmean(ordered)),
        "median": int(statistics.median(ordered)),
        "p95": p95,
        "max": ordered[-1],
        "standard_deviation": round(statistics.pstdev(ordered), 1) if len(ordered) > 1 else 0.0,
    }


def mean_time_to_recovery(runs: Sequence[Run]) -> int | None:
    """Mean seconds from a failed run to the next successful one."""
    gaps = []
    failed_at: datetime | None = None
    for run in sorted(runs, key=lambda r: r.created_at):
        if run.status in FAILED and failed_at is None:
            failed_at = run.stopped_at or run.created_at
        elif run.status == "success" and failed_at is not None:
            gaps.append(((run.stopped_at or run.created_at) - failed_at).total_seconds())
            failed_at = None
    return int(statistics.fmean(gaps)) if gaps else None


def metrics(runs: Sequence[Run], window: timedelta) -> dict[str, object]:
    successful = [r for r in runs if r.status == "success"]
    failed = [r for r in runs if r.status in FAILED]
    finished = successful + failed
    durations = [d for d in (r.duration_s for r in successful) if d is not None]
    days = max(window.total_seconds() / 86400, 1 / 24)
    return {
        "total_runs": len(runs),
        "successful_runs": len(successful),
        "failed_runs": len(failed),
        "success_rate": round(len(successful) / len(finished), 4) if finished else 0.0,
        "throughput": round(len(runs) / days, 4),
        "mttr": mean_time_to_recovery(runs),
        "total_credits_used": 0,
        "duration_metrics": duration_metrics(durations),
    }
