"""Why a queued job is still waiting: no agent offers what it needs, those that do are draining or busy.

Computed when asked, from the agents' registrations and their running tasks, so the answer is
always current ("no agent offers resource class large for docker jobs").
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.status import JobStatus
from rondo.store import agents as agent_q
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store import tasks as task_q
from rondo.store.models import Agent, Job


def offers(agent: Agent, executor_type: str, resource_class: str) -> bool:
    """Whether an agent can run this kind of task (the same rule as the claim query)."""
    if executor_type not in (agent.executors or []):
        return False
    classes = list(agent.resource_classes or [])
    return resource_class in classes if classes else "/" not in resource_class


async def serial_group_wait(session: AsyncSession, job: Job) -> str | None:
    """For a blocked job of a serial group: the group job it waits for, if one runs."""
    if not job.serial_group:
        return None
    project = await project_q.project_by_id(session, job.project_id)
    if project is None:
        return None
    busy = await pipeline_q.serial_group_jobs(
        session, project.organization_id, job.serial_group, [JobStatus.QUEUED, JobStatus.RUNNING]
    )
    others = [j for j in busy if j.id != job.id]
    if not others:
        return None
    return f"Waiting for serial group {job.serial_group}: job {others[0].name} of the group runs first"


async def why_waiting(session: AsyncSession, job: Job) -> str:
    agents = [a for a in await agent_q.all_agents(session) if a.state != "down"]
    fitting = [a for a in agents if offers(a, job.executor_type, job.resource_class)]
    what = f"resource class {job.resource_class} for {job.executor_type} jobs"
    if not fitting:
        if not agents:
            return "Waiting for an agent: no agent is connected"
        return f"Waiting for an agent: no connected agent offers {what}"
    if all(a.drain for a in fitting):
        return f"Waiting for an agent: every agent offering {what} is draining"
    busy = 0
    for agent in fitting:
        running = len(await task_q.running_tasks_of_agent(session, agent.id))
        if running >= int((agent.capacity or {}).get("tasks", 1)):
            busy += 1
    if busy == len(fitting):
        return f"Waiting for a free agent: all {len(fitting)} agent(s) offering {what} are busy"
    return f"Queued: an agent offering {what} is free and will claim it shortly"
