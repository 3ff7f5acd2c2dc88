"""Test insights: flaky tests and per-test metrics of a workflow, from the results `store_test_results` kept.

Pure arithmetic in the shape of CircleCI's Insights API (`/insights/{slug}/flaky-tests` and
`/workflows/{name}/test-metrics`); durations in seconds.

A test is *flaky* when it both passed and failed on the same commit (a rerun of the same workflow, or
another pipeline of the same revision). Each failed run on such a commit is one flake. As CircleCI
documents, a test stops being flaky once two weeks pass without a flake, and each flake resets that
timer: `times_flaked` counts the flakes of the current streak.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

PASSED = "success"
FAILED_RESULTS = ("failure", "error")
SKIPPED = "skipped"
FLAKY_QUIET_PERIOD = timedelta(days=14)
LISTED_TESTS = 10  # most_failed_tests and slowest_tests show this many; `_extra` counts ties left out


@dataclass(frozen=True, order=True)
class TestKey:
    """One test of one job: what Insights tells apart."""

    __test__ = False  # not a pytest test class

    job_name: str
    classname: str
    name: str
    file: str | None


@dataclass(frozen=True)
class Flake:
    """A failed run of a test on a commit where the same test also passed."""

    key: TestKey
    source: str
    failed_at: datetime
    job_number: int | None
    job_seconds: int  # how long the failed job ran: the time the flake cost
    workflow_id: str
    workflow_name: str
    workflow_created_at: datetime
    pipeline_number: int


@dataclass(frozen=True)
class FlakyTest:
    key: TestKey
    times_flaked: int
    time_wasted: int
    last: Flake  # the newest flake: its job, workflow and pipeline are the ones shown


def flaky_tests(flakes: Iterable[Flake], now: datetime, quiet: timedelta = FLAKY_QUIET_PERIOD) -> list[FlakyTest]:
    """The tests whose newest flake is within `quiet` of `now`, with the flakes of that streak counted.

    A streak runs back from the newest flake while consecutive flakes are at most `quiet` apart.
    Most flakes first, then by test name.
    """
    by_test: dict[TestKey, list[Flake]] = defaultdict(list)
    for flake in flakes:
        by_test[flake.key].append(flake)
    found = []
    for key, runs in by_test.items():
        runs.sort(key=lambda f: f.failed_at, reverse=True)
        if now - runs[0].failed_at > quiet:
            continue
        streak = [runs[0]]
        for flake in runs[1:]:
            if streak[-1].failed_at - flake.failed_at > quiet:
                break
            streak.append(flake)
        found.append(FlakyTest(key, len(streak), sum(f.job_seconds for f in streak), runs[0]))
    found.sort(key=lambda t: (-t.times_flaked, t.key.name, t.key.classname, t.key.job_name))
    return found


@dataclass(frozen=True)
class TestRun:
    """One result of one test in one workflow run."""

    __test__ = False

    key: TestKey
    result: str  # success | failure | error | skipped
    run_time: float
    source: str
    workflow_id: str


@dataclass(frozen=True)
class WorkflowRun:
    id: str
    pipeline_number: int


def p95(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _counts(results: Iterable[str]) -> dict[str, int]:
    counts = {"error": 0, "failure": 0, "skipped": 0, "success": 0, "total": 0}
    for result in results:
        if result in counts:
            counts[result] += 1
        counts["total"] += 1
    return counts


def _success_rate(counts: dict[str, int]) -> float:
    """Passed among the tests that ran (skipped ones did not)."""
    ran = counts["total"] - counts["skipped"]
    return round(counts["success"] / ran, 4) if ran else 0.0


def _top(items: list[dict[str, Any]], rank: Any) -> tuple[list[dict[str, Any]], int]:
    """The first LISTED_TESTS items by `rank`, and how many left out tie with the last one shown.

    A rank's last element only orders ties (by name), so it is not compared.
    """
    items.sort(key=rank)
    shown, rest = items[:LISTED_TESTS], items[LISTED_TESTS:]
    extra = sum(1 for item in rest if rank(item)[:-1] == rank(shown[-1])[:-1]) if shown else 0
    return shown, extra


def metrics_of_tests(
    runs: Sequence[WorkflowRun], tests: Iterable[TestRun], flaky: Collection[TestKey]
) -> dict[str, Any]:
    """CircleCI's test-metrics body for these workflow runs (oldest first) and the tests they ran.

    `test_runs` lists the runs that reported tests; `average_test_count` is over those runs.
    """
    by_run: dict[str, list[str]] = defaultdict(list)
    by_test: dict[TestKey, list[TestRun]] = defaultdict(list)
    for test in tests:
        by_run[test.workflow_id].append(test.result)
        by_test[test.key].append(test)
    test_runs: list[dict[str, Any]] = []
    for run in runs:
        if run.id not in by_run:
            continue
        counts = _counts(by_run[run.id])
        test_runs.append(
            {
                "pipeline_number": run.pipeline_number,
                "workflow_id": run.id,
                "success_rate": _success_rate(counts),
                "test_counts": counts,
            }
        )
    total = sum(r["test_counts"]["total"] for r in test_runs)
    items: list[dict[str, Any]] = []
    for key, results in by_test.items():
        items.append(
            {
                "p95_duration": p95([r.run_time for r in results if r.result != SKIPPED]),
                "total_runs": len(results),
                "classname": key.classname,
                "failed_runs": sum(1 for r in results if r.result in FAILED_RESULTS),
                "flaky": key in flaky,
                "source": results[-1].source,
                "file": key.file,
                "job_name": key.job_name,
                "test_name": key.name,
            }
        )
    failing = [i for i in items if i["failed_runs"] > 0]
    most_failed, most_failed_extra = _top(failing, lambda i: (-i["failed_runs"], i["total_runs"], _order(i)))
    timed = [i for i in items if i["p95_duration"] is not None]
    slowest, slowest_extra = _top(timed, lambda i: (-i["p95_duration"], _order(i)))
    return {
        "average_test_count": total // len(test_runs) if test_runs else 0,
        "most_failed_tests": most_failed,
        "most_failed_tests_extra": most_failed_extra,
        "slowest_tests": slowest,
        "slowest_tests_extra": slowest_extra,
        "total_test_runs": total,
        "test_runs": test_runs,
    }


def _order(item: dict[str, Any]) -> tuple[str, str, str]:
    return (item["test_name"], item["classname"], item["job_name"])
