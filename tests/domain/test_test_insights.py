"""Test insights arithmetic: flaky streaks, and per-test metrics of a workflow's runs."""

from datetime import UTC, datetime, timedelta

from rondo.domain import test_insights as ti

NOW = datetime(2026, 11, 30, tzinfo=UTC)
FLAKY = ti.TestKey("test", "app.Net", "test_fetch", "tests/test_net.py")
OTHER = ti.TestKey("test", "app.Db", "test_query", None)


def flake(key: ti.TestKey, days_ago: float, seconds: int = 60, job: int = 1) -> ti.Flake:
    at = NOW - timedelta(days=days_ago)
    return ti.Flake(key, "pytest", at, job, seconds, f"wf-{job}", "main", at, job)


def test_a_streak_counts_flakes_at_most_two_weeks_apart() -> None:
    flakes = [flake(FLAKY, 1, job=9), flake(FLAKY, 10, job=5), flake(FLAKY, 20, job=3), flake(FLAKY, 40, job=1)]
    (found,) = ti.flaky_tests(flakes, NOW)
    assert found.key == FLAKY
    assert found.times_flaked == 3  # 1, 10 and 20 days ago; the one 40 days ago is 20 days before the streak
    assert found.time_wasted == 180
    assert found.last.job_number == 9


def test_two_quiet_weeks_end_flakiness() -> None:
    assert ti.flaky_tests([flake(OTHER, 15), flake(OTHER, 16)], NOW) == []
    assert [t.key for t in ti.flaky_tests([flake(OTHER, 13.9), flake(FLAKY, 1), flake(FLAKY, 2)], NOW)] == [
        FLAKY,
        OTHER,
    ]  # most flakes first


def run(key: ti.TestKey, result: str, seconds: float, workflow: str) -> ti.TestRun:
    return ti.TestRun(key, result, seconds, "pytest", workflow)


def test_metrics_count_runs_and_rank_failing_and_slow_tests() -> None:
    slow = ti.TestKey("test", "app.Slow", "test_slow", None)
    skipped = ti.TestKey("lint", "app.Lint", "test_skip", None)
    runs = [ti.WorkflowRun("w1", 1), ti.WorkflowRun("w2", 1), ti.WorkflowRun("w3", 2)]
    tests = [
        run(FLAKY, "failure", 1.0, "w1"),
        run(OTHER, "error", 0.2, "w1"),
        run(slow, "success", 9.0, "w1"),
        run(skipped, "skipped", 0.0, "w1"),
        run(FLAKY, "success", 2.0, "w2"),
        run(OTHER, "failure", 0.3, "w2"),
        run(slow, "success", 7.0, "w2"),
    ]  # w3 reported no tests
    body = ti.metrics_of_tests(runs, tests, flaky={FLAKY})
    assert body["total_test_runs"] == 7 and body["average_test_count"] == 3
    assert body["test_runs"] == [
        {"pipeline_number": 1, "workflow_id": "w1", "success_rate": round(1 / 3, 4),
         "test_counts": {"error": 1, "failure": 1, "skipped": 1, "success": 1, "total": 4}},
        {"pipeline_number": 1, "workflow_id": "w2", "success_rate": round(2 / 3, 4),
         "test_counts": {"error": 0, "failure": 1, "skipped": 0, "success": 2, "total": 3}},
    ]  # fmt: skip
    assert [(t["test_name"], t["failed_runs"], t["flaky"]) for t in body["most_failed_tests"]] == [
        ("test_query", 2, False),
        ("test_fetch", 1, True),
    ]
    assert [(t["test_name"], t["p95_duration"]) for t in body["slowest_tests"]] == [
        ("test_slow", 9.0),
        ("test_fetch", 2.0),
        ("test_query", 0.3),
    ]  # a test that only ever skipped has no duration
    assert body["most_failed_tests_extra"] == 0 and body["slowest_tests_extra"] == 0
    assert body["most_failed_tests"][1] == {
        "p95_duration": 2.0, "total_runs": 2, "classname": "app.Net", "failed_runs": 1, "flaky": True,
        "source": "pytest", "file": "tests/test_net.py", "job_name": "test", "test_name": "test_fetch",
    }  # fmt: skip


def test_lists_stop_at_ten_and_count_the_ties_left_out() -> None:
    keys = [ti.TestKey("test", "app.T", f"test_{i:02}", None) for i in range(13)]
    tests = [run(k, "failure", 1.5, "w1") for k in keys] + [run(keys[0], "failure", 1.0, "w2")]
    body = ti.metrics_of_tests([ti.WorkflowRun("w1", 1), ti.WorkflowRun("w2", 2)], tests, flaky=())
    assert [t["test_name"] for t in body["most_failed_tests"]][:2] == ["test_00", "test_01"]
    assert len(body["most_failed_tests"]) == 10
    assert body["most_failed_tests_extra"] == 3  # test_10..12 failed once in one run, as test_09 did
    assert body["slowest_tests_extra"] == 3
    assert ti.metrics_of_tests([], [], flaky=())["average_test_count"] == 0
