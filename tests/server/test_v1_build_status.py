"""v1.1 describes a job with lifecycle, outcome and status in its own words; clients switch on them."""

from __future__ import annotations

from rondo.domain.status import JobStatus
from rondo.server.api_v1.build_json import FILTERS, v1_state

# The v1.1 reference's enumerations.
LIFECYCLES = {"queued", "not_run", "not_running", "running", "finished"}
OUTCOMES = {"canceled", "infrastructure_fail", "timedout", "failed", "no_tests", "success", None}
STATUSES = {
    *("retried", "canceled", "infrastructure_fail", "timedout", "not_run", "running", "failed", "queued"),
    *("not_running", "no_tests", "fixed", "success"),
}


def test_every_job_status_has_v1_words() -> None:
    for status in JobStatus:
        lifecycle, outcome, v1_status = v1_state(status)
        assert lifecycle in LIFECYCLES and outcome in OUTCOMES and v1_status in STATUSES, status
        assert (outcome is not None) == (lifecycle == "finished" and status != JobStatus.RETRIED), status


def test_states_clients_read() -> None:
    assert v1_state(JobStatus.SUCCESS) == ("finished", "success", "success")
    assert v1_state(JobStatus.FAILED) == ("finished", "failed", "failed")
    assert v1_state(JobStatus.RUNNING) == ("running", None, "running")
    assert v1_state(JobStatus.QUEUED) == ("queued", None, "queued")
    assert v1_state(JobStatus.CANCELED) == ("finished", "canceled", "canceled")
    assert v1_state(JobStatus.TERMINATED_UNKNOWN) == ("finished", "infrastructure_fail", "infrastructure_fail")


def test_a_success_after_a_failure_is_fixed() -> None:
    assert v1_state(JobStatus.SUCCESS, previous_status=JobStatus.FAILED) == ("finished", "success", "fixed")
    assert v1_state(JobStatus.SUCCESS, previous_status=JobStatus.TIMEDOUT)[2] == "fixed"
    assert v1_state(JobStatus.SUCCESS, previous_status=JobStatus.SUCCESS)[2] == "success"
    assert v1_state(JobStatus.SUCCESS, previous_status=JobStatus.CANCELED)[2] == "success"
    assert v1_state(JobStatus.FAILED, previous_status=JobStatus.FAILED)[2] == "failed"


def test_filters_select_by_how_a_build_ended() -> None:
    assert FILTERS["successful"] == {JobStatus.SUCCESS}
    assert JobStatus.FAILED in FILTERS["failed"] and JobStatus.SUCCESS not in FILTERS["failed"]
    assert FILTERS["completed"] >= FILTERS["successful"] | FILTERS["failed"] | {JobStatus.CANCELED}
    assert not FILTERS["completed"] & FILTERS["running"]
    assert {JobStatus.RUNNING, JobStatus.QUEUED} <= FILTERS["running"]
