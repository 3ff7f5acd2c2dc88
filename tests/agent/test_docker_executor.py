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
        await until(lambda: len(networks_of(client, owner)) == 4, "the pool full again once one is given back")
        assert released.name not in networks_of(client, owner), "a released network is gone, never reused"
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
