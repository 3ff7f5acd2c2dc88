"""Claiming: every queued task goes to exactly one agent, however many claim at once."""

import asyncio
import uuid

from rondo.domain.status import JobStatus
from rondo.store import projects as project_q
from rondo.store import tasks as task_q
from rondo.store.db import Database
from rondo.store.models import Agent, ApiToken, Job, Organization, Pipeline, Project, Task, Workflow
from rondo.store.types import utcnow


async def _seed(db: Database, n_tasks: int) -> list[uuid.UUID]:
    async with db.session() as s:
        org = Organization(slug="gh/acme", name="acme", vcs="gh")
        s.add(org)
        await s.flush()
        project = Project(organization_id=org.id, slug="gh/acme/app", name="app", vcs_url="/tmp/x")
        s.add(project)
        await s.flush()
        pipe = Pipeline(
            project_id=project.id,
            number=1,
            state="created",
            trigger_type="api",
            trigger_actor="t",
            vcs_url="/tmp/x",
            parameters={},
            errors=[],
        )
        s.add(pipe)
        await s.flush()
        wf = Workflow(pipeline_id=pipe.id, name="w", status="running")
        s.add(wf)
        await s.flush()
        token = ApiToken(kind="agent", label="t", digest=uuid.uuid4().hex, display="x")
        s.add(token)
        await s.flush()
        agents = [Agent(name=f"a{i}", token_id=token.id, executors=["machine"]) for i in range(20)]
        s.add_all(agents)
        for i in range(n_tasks):
            job = Job(
                workflow_id=wf.id,
                project_id=project.id,
                name=f"j{i}",
                type="build",
                status="queued",
                requires={},
                definition={},
                executor_type="machine",
                resource_class="medium",
            )
            s.add(job)
            await s.flush()
            s.add(
                Task(
                    job_id=job.id,
                    node_index=0,
                    status="queued",
                    executor_type="machine",
                    resource_class="medium",
                    spec={},
                    queued_at=utcnow(),
                )
            )
        await s.flush()
        return [a.id for a in agents]


async def test_concurrent_claims_hand_out_each_task_once(db: Database) -> None:
    agent_ids = await _seed(db, 60)  # 20 agents claim at once
    claimed: list[tuple[uuid.UUID, uuid.UUID]] = []

    async def claimer(agent_id: uuid.UUID) -> None:
        while True:
            async with db.session() as s:
                task = await task_q.claim_next(s, agent_id, ["machine"], skip_locked=not db.is_sqlite, now=utcnow())
                if task is None:
                    return
                claimed.append((task.id, agent_id))

    await asyncio.gather(*(claimer(a) for a in agent_ids))
    task_ids = [t for t, _ in claimed]
    assert len(task_ids) == 60
    assert len(set(task_ids)) == 60
    async with db.session() as s:
        for task_id, agent_id in claimed:
            task = await task_q.task_by_id(s, task_id)
            assert task is not None
            assert task.status == JobStatus.RUNNING and task.agent_id == agent_id


async def test_claim_matches_the_agents_executors(db: Database) -> None:
    agent_ids = await _seed(db, 1)
    async with db.session() as s:
        assert await task_q.claim_next(s, agent_ids[0], ["docker"], skip_locked=False, now=utcnow()) is None


async def test_claim_matches_resource_classes(db: Database) -> None:
    agent_ids = await _seed(db, 1)  # one `medium` task
    async with db.session() as s:
        claim = task_q.claim_next
        assert (
            await claim(s, agent_ids[0], ["machine"], skip_locked=False, now=utcnow(), resource_classes=["large"])
            is None
        )
        # An agent naming no classes takes the standard ones, but never a self-hosted runner class.
        task = await claim(s, agent_ids[1], ["machine"], skip_locked=False, now=utcnow())
        assert task is not None and task.resource_class == "medium"


async def test_pipeline_numbers_are_distinct_under_concurrency(db: Database) -> None:
    await _seed(db, 0)
    async with db.session() as s:
        project = await project_q.project_by_slug(s, "gh/acme/app")
        assert project is not None

    async def take() -> int:
        async with db.session() as s:
            return await project_q.next_pipeline_number(s, project.id)

    numbers = await asyncio.gather(*(take() for _ in range(20)))
    assert sorted(numbers) == list(range(1, 21))


async def test_a_drained_or_lost_agent_claims_nothing(db: Database) -> None:
    # The claim itself checks the agent: a long poll woken after a drain (or after the agent was
    # declared down) must not hand it work.
    agent_ids = await _seed(db, 1)
    async with db.session() as s:
        drained, lost = (await s.get(Agent, agent_ids[0])), (await s.get(Agent, agent_ids[1]))
        assert drained is not None and lost is not None
        drained.drain = True
        lost.state = "down"
    for agent_id in agent_ids[:2]:
        async with db.session() as s:
            assert await task_q.claim_next(s, agent_id, ["machine"], skip_locked=not db.is_sqlite, now=utcnow()) is None
    async with db.session() as s:
        task = await task_q.claim_next(s, agent_ids[2], ["machine"], skip_locked=not db.is_sqlite, now=utcnow())
        assert task is not None and task.agent_id == agent_ids[2]
