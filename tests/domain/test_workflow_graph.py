from rondo.domain.status import JobStatus as J
from rondo.domain.status import WorkflowStatus as W
from rondo.domain.workflow_graph import GraphJob, settle, unblock, workflow_status

OK = frozenset({J.SUCCESS})


def graph(**jobs: tuple[J, dict[str, frozenset[J]]]) -> dict[str, GraphJob]:
    return {name: GraphJob(name, status, requires) for name, (status, requires) in jobs.items()}


def test_roots_run_first_and_dependants_wait() -> None:
    g = graph(build=(J.BLOCKED, {}), test=(J.BLOCKED, {"build": OK}))
    assert settle(g) == {"build": J.QUEUED}


def test_dependant_runs_when_requirement_succeeds() -> None:
    g = graph(build=(J.SUCCESS, {}), test=(J.BLOCKED, {"build": OK}))
    assert unblock(g).runnable == ("test",)


def test_failure_makes_the_whole_downstream_chain_not_run() -> None:
    g = graph(
        build=(J.FAILED, {}),
        test=(J.BLOCKED, {"build": OK}),
        deploy=(J.BLOCKED, {"test": OK}),
    )
    assert settle(g) == {"test": J.NOT_RUN, "deploy": J.NOT_RUN}


def test_requires_with_explicit_statuses_runs_after_failure() -> None:
    g = graph(build=(J.FAILED, {}), notify=(J.BLOCKED, {"build": frozenset({J.SUCCESS, J.FAILED})}))
    assert settle(g) == {"notify": J.QUEUED}


def test_job_waits_for_all_requirements() -> None:
    g = graph(a=(J.SUCCESS, {}), b=(J.RUNNING, {}), c=(J.BLOCKED, {"a": OK, "b": OK}))
    assert settle(g) == {}


def test_not_run_as_soon_as_one_requirement_failed_even_if_another_runs() -> None:
    g = graph(a=(J.FAILED, {}), b=(J.RUNNING, {}), c=(J.BLOCKED, {"a": OK, "b": OK}))
    assert settle(g) == {"c": J.NOT_RUN}


def test_workflow_status() -> None:
    assert workflow_status([J.SUCCESS, J.SUCCESS]) == W.SUCCESS
    assert workflow_status([J.RUNNING, J.BLOCKED]) == W.RUNNING
    assert workflow_status([J.FAILED, J.RUNNING]) == W.FAILING
    assert workflow_status([J.FAILED, J.NOT_RUN]) == W.FAILED
    assert workflow_status([J.SUCCESS, J.ON_HOLD]) == W.ON_HOLD
    assert workflow_status([J.SUCCESS, J.CANCELED]) == W.CANCELED
    assert workflow_status([J.INFRASTRUCTURE_FAIL]) == W.FAILED
    assert workflow_status([J.NOT_RUN]) == W.NOT_RUN
