"""The docker executor on a real engine: job networks made ahead (one per job, never shared, cleaned up
after agents that died) and the primary container's setup with and without a probe in the container."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from rondo.agent.executors.docker import DockerExecutor, DockerSettings
from rondo.agent.executors.docker_networks import POOL_LABEL, NetworkPool, owner_of_this_process
from rondo.agent.executors.docker_warm import WARM_LABEL
from rondo.agent.executors.machine import MachineExecutor
from rondo.domain.agent_protocol import TaskSpec
from rondo.domain.status import JobStatus
from tests.agent.test_ssh_keys_in_jobs import execute, run

IMAGE = "rondo/base:bookworm"


@pytest.fixture
def client() -> Iterator[Any]:
    import docker

    engine = docker.from_env()
    try:
        yield engine
    finally:
        engine.close()


def networks_of(client: Any, owner: str) -> set[str]:
    return {n.name for n in client.networks.list(filters={"label": f"{POOL_LABEL}={owner}"})}


async def until(check: Any, what: str) -> None:
    for _ in range(600):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_the_pool_hands_out_distinct_fresh_networks_and_removes_its_own(client: Any) -> None:
    owner = f"{owner_of_this_process()}-{uuid.uuid4().hex[:6]}"  # this test's networks only
    pool = NetworkPool(client, size=2, owner=owner)
    await pool.start()
    await until(lambda: len(networks_of(client, owner)) == 2, "two networks made ahead")
    taken = [await pool.take() for _ in range(3)]  # the third is made on the spot
    try:
        assert len({n.name for n in taken}) == 3
        released = taken.pop()
        pool.release(released, [])
        # Taking refills the pool; a released network is removed, never reused.
        await until(
            lambda: len(networks_of(client, owner)) == 4 and released.name not in networks_of(client, owner),
            "two taken, two ready again, and the released one gone",
        )
    finally:
        await pool.close()
    assert networks_of(client, owner) == {n.name for n in taken}, "close removes only what was not handed out"
    for network in taken:
        network.remove()


async def test_networks_left_by_a_dead_agent_are_removed_with_their_containers(client: Any) -> None:
    host, pid = socket.gethostname(), os.getpid()
    dead = f"{host}/{pid}/0"  # this pid, but another start time: a process that is gone
    elsewhere = f"other-host-{uuid.uuid4().hex[:6]}/{pid}/0"  # cannot be judged from here
    alive = owner_of_this_process()
    made = {o: client.networks.create(f"rondo-test-{uuid.uuid4().hex[:8]}", labels={POOL_LABEL: o})
            for o in (dead, elsewhere)}  # fmt: skip
    box = client.containers.run(IMAGE, ["sleep", "300"], detach=True, network=made[dead].name,
                                labels={"rondo.test": "stale-network"})  # fmt: skip
    stopped = client.containers.create(IMAGE, ["true"], labels={POOL_LABEL: dead})  # killed, not yet removed
    try:
        NetworkPool(client, owner=alive).remove_stale()
        names = {n.name for n in client.networks.list(filters={"label": POOL_LABEL})}
        assert made[dead].name not in names and made[elsewhere].name in names
        assert not client.containers.list(all=True, filters={"id": box.id}), "its job container went too"
        assert not client.containers.list(all=True, filters={"id": stopped.id}), "and its stopped one"
    finally:
        made[elsewhere].remove()
        if client.containers.list(all=True, filters={"id": box.id}):
            box.remove(force=True)


def docker_task(*steps: dict[str, Any], user: str | None = None, images: int = 1) -> TaskSpec:
    primary: dict[str, Any] = {"image": IMAGE, **({"user": user} if user else {})}
    return TaskSpec.model_validate(
        {
            "id": f"task-{os.urandom(4).hex()}",
            "job_id": "job-1",
            "job_name": "build",
            "job_number": 1,
            "project_slug": "gh/acme/app",
            "executor": {"type": "docker", "resource_class": "small",
                         "docker": [primary] + [{"image": IMAGE, "command": ["sleep", "300"]}] * (images - 1)},
            "steps": list(steps),
        }
    )  # fmt: skip


async def test_jobs_run_side_by_side_each_in_a_network_of_its_own(client: Any) -> None:
    executor = DockerExecutor(DockerSettings(network_pool=1))
    await executor.start()
    try:
        async with (
            executor.prepare(docker_task(images=2)) as one,
            executor.prepare(docker_task()) as two,
        ):
            nets = []
            for env in (one, two):
                attrs = client.api.inspect_container(env.primary.id)
                nets.append(attrs["HostConfig"]["NetworkMode"])
                assert (env.home, env.shell) == ("/root", "/bin/bash -eo pipefail")
                assert env.path == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            assert nets[0] != nets[1] and all(n.startswith("rondo-pool-") for n in nets)
            service = [c for c in client.containers.list(filters={"label": f"rondo.task={one._spec.id}"})
                       if c.id != one.primary.id]  # fmt: skip
            assert [c.attrs["HostConfig"]["NetworkMode"] for c in service] == [f"container:{one.primary.id}"]
        left = client.containers.list(all=True, filters={"label": f"rondo.task={one._spec.id}"})
        assert all(c.status in ("paused", "exited", "removing") for c in left), "nothing of a job runs on"
        await until(lambda: not set(nets) & {n.name for n in client.networks.list()}, "the jobs' networks gone")
        assert not client.containers.list(all=True, filters={"label": f"rondo.task={one._spec.id}"})
    finally:
        await executor.close()
    assert not networks_of(client, owner_of_this_process()), "the networks made ahead go when the agent stops"


async def test_the_helper_and_step_directory_work_for_root_and_for_other_users() -> None:
    step = run('echo "home=$HOME"; circleci-agent --help >/dev/null && echo helper; stat -c "%U %a" /tmp/.rondo')
    step["working_directory"] = "/tmp"  # nobody's home cannot be made
    for user, home, owner in ((None, "/root", "root 755"), ("nobody", "/nonexistent", "nobody 755")):
        executor = DockerExecutor(DockerSettings(network="host"))
        try:
            status, out, _ = await execute(docker_task(step, user=user), executor)
        finally:
            await executor.close()
        assert status == JobStatus.SUCCESS, out
        assert out[0].split() == [f"home={home}", "helper", *owner.split()], out


async def test_the_machine_executor_needs_no_start_or_close(tmp_path: Any) -> None:
    executor = MachineExecutor(tmp_path)
    await executor.start()
    status, out, _ = await execute(docker_task(run("echo hi")).model_copy(update={"executor": {"type": "machine"}}),
                                   executor)  # fmt: skip
    await executor.close()
    assert status == JobStatus.SUCCESS, out


async def test_root_jobs_mount_the_helper_read_only_once_the_agent_has_filled_its_volume(client: Any) -> None:
    dead = f"{socket.gethostname()}/{os.getpid()}/0"
    stale = client.volumes.create(f"rondo-helper-test-{uuid.uuid4().hex[:8]}", labels={POOL_LABEL: dead})
    executor = DockerExecutor(DockerSettings(network="host"))
    await executor.start()
    try:
        assert stale.name not in {v.name for v in client.volumes.list()}, "a dead agent's volume is removed"
        step = run("circleci-agent --help >/dev/null && echo helper; touch /tmp/.rondo/bin/x 2>&- || echo read-only")
        status, out, _ = await execute(docker_task(step), executor)  # copies the helper; fills the volume
        assert status == JobStatus.SUCCESS and out[0].split() == ["helper"], out
        helper = executor._helper
        assert helper is not None
        await until(lambda: helper.ready, "the helper volume filled")
        async with executor.prepare(docker_task()) as env:
            mounts = client.api.inspect_container(env.primary.id)["Mounts"]
            assert [(m["Name"], m["Destination"], m["RW"]) for m in mounts] == [(helper.name, "/tmp/.rondo/bin", False)]
        status, out, _ = await execute(docker_task(step), executor)
        assert status == JobStatus.SUCCESS and out[0].split() == ["helper", "read-only"], out
    finally:
        await executor.close()
    assert helper.name not in {v.name for v in client.volumes.list()}, "the agent's volume goes when it stops"


def warm_ones(client: Any) -> dict[str, str]:
    """This process's warm primaries: container id -> the network it waits on."""
    owner = owner_of_this_process()
    found = client.api.containers(all=True, filters={"label": [WARM_LABEL, f"{POOL_LABEL}={owner}"]})
    return {c["Id"]: c["HostConfig"]["NetworkMode"] for c in found}  # summaries: no inspect racing a removal


async def test_a_job_like_the_last_one_starts_in_a_warm_primary_and_others_start_cold(client: Any) -> None:
    executor = DockerExecutor(DockerSettings(warm_primaries=2))
    await executor.start()
    try:
        status, out, _ = await execute(docker_task(run("echo first")), executor)  # cold; then two are made
        assert status == JobStatus.SUCCESS, out
        await until(lambda: len(warm_ones(client)) == 2, "two warm primaries")
        warm = warm_ones(client)
        assert len(set(warm.values())) == 2, "each on a network of its own"
        step = run('echo "$HOME"; circleci-agent --help >/dev/null && echo helper')
        async with executor.prepare(docker_task(step)) as env:
            assert env.primary.id in warm, "the job took a warm primary"
            network = client.api.inspect_container(env.primary.id)["HostConfig"]["NetworkMode"]
            assert network == warm[env.primary.id]
            taken = env.primary.id
        await until(lambda: taken not in warm_ones(client), "a warm primary serving one job, then removed")
        status, out, _ = await execute(docker_task(step), executor)
        assert status == JobStatus.SUCCESS and out[0].split() == ["/root", "helper"], out

        # Another shape (here another user) starts cold; the warm ones then follow the new shape.
        before = set(warm_ones(client))
        async with executor.prepare(docker_task(user="nobody")) as env:
            assert env.primary.id not in before
        await until(lambda: not before & set(warm_ones(client)) and len(warm_ones(client)) == 2, "new shape")
        users = {client.api.inspect_container(c)["Config"]["User"] for c in warm_ones(client)}
        assert users == {"nobody"}

        # A warm primary removed behind the agent's back: the job starts cold, and runs.
        for container_id in warm_ones(client):
            client.api.remove_container(container_id, force=True)
        whoami = {**run("whoami"), "working_directory": "/tmp"}  # nobody's home cannot be made
        status, out, _ = await execute(docker_task(whoami, user="nobody"), executor)
        assert status == JobStatus.SUCCESS and out[0].split() == ["nobody"], out
    finally:
        await executor.close()
    assert not warm_ones(client), "the warm primaries go when the agent stops"
    assert not networks_of(client, owner_of_this_process()), "with their networks"


async def test_no_warm_primaries_when_turned_off(client: Any) -> None:
    executor = DockerExecutor(DockerSettings(warm_primaries=0))
    await executor.start()
    try:
        status, out, _ = await execute(docker_task(run("true")), executor)
        assert status == JobStatus.SUCCESS, out
        await asyncio.sleep(1.0)
        assert not warm_ones(client)
    finally:
        await executor.close()
