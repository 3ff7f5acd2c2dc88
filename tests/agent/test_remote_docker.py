"""Job-private Docker engines: TLS material, settings, and recovery after an agent is killed mid-job."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from rondo.agent.remote_docker.engine import RemoteDockerHost, RemoteDockerSettings, parse_preload
from rondo.agent.remote_docker.slots import IPTABLES_COMMENT, SlotError, SlotPool, try_lock
from rondo.agent.remote_docker.tls import make_tls


def test_tls_material_is_a_chain_for_the_engine_address_and_a_client() -> None:
    tls = make_tls("172.18.0.1", "task-1")
    ca = x509.load_pem_x509_certificate(tls.ca_pem)
    server = x509.load_pem_x509_certificate(tls.server_cert_pem)
    client = x509.load_pem_x509_certificate(tls.client_cert_pem)
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("172.18.0.1") in names.get_values_for_type(x509.IPAddress)
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage and ExtendedKeyUsageOID.SERVER_AUTH not in usage
    assert sorted(tls.client_files()) == ["ca.pem", "cert.pem", "key.pem"]
    assert b"PRIVATE KEY" in tls.client_key_pem
    # Every job gets its own CA: another job's client certificate is not signed by this one.
    other = x509.load_pem_x509_certificate(make_tls("172.18.0.1", "task-2").client_cert_pem)
    with pytest.raises(Exception):  # noqa: B017 - cryptography raises InvalidSignature or ValueError
        other.verify_directly_issued_by(ca)


def test_preload_and_subnet_settings_are_checked() -> None:
    assert parse_preload("alpine:latest=rondo/busybox:bookworm, redis=rondo/redis:bookworm") == (
        ("alpine:latest", "rondo/busybox:bookworm"),
        ("redis", "rondo/redis:bookworm"),
    )
    with pytest.raises(ValueError, match="'alpine' is not name=local-image"):
        parse_preload("alpine")
    with pytest.raises(SlotError, match="not a network"):
        SlotPool(Path("/tmp"), "10.300.0.0/16")
    with pytest.raises(SlotError, match="/16 or larger"):
        SlotPool(Path("/tmp"), "10.1.2.0/24")
    assert len(SlotPool(Path("/tmp"), "10.128.0.0/9").subnets) == 64


needs_root_dockerd = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("dockerd") is None, reason="job-private engines need root and dockerd"
)

AGENT = """
import asyncio, sys
from pathlib import Path
from rondo.agent.remote_docker.engine import RemoteDockerHost, RemoteDockerSettings

async def main():
    host = RemoteDockerHost(RemoteDockerSettings(data_dir=Path(sys.argv[1])), lambda: None)
    engine = await host.start(job="killed-job", project="gh/acme/app", address=None, keep_layers=False,
                              on_output=lambda b: None)
    print(engine.slot.index, engine.docker_host, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


@needs_root_dockerd
def test_an_engine_left_by_a_killed_agent_is_removed_at_the_next_start(tmp_path: Path) -> None:
    data_dir = Path("/var/tmp") / f"rondo-remote-docker-kill-{os.getpid()}"
    data_dir.mkdir(mode=0o755, exist_ok=True)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(AGENT), str(data_dir)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line, "the engine did not start"
        index = int(line[0])
        settings = RemoteDockerSettings(data_dir=data_dir)
        run_dir = settings.run_root / str(index)
        made = subprocess.run(["docker", "-H", f"unix://{run_dir}/docker.sock", "network", "create", "leftover"],
                              capture_output=True, text=True)  # fmt: skip
        assert made.returncode == 0, made.stderr
        bridge = "br-" + made.stdout.strip()[:12]
        assert Path(f"/sys/class/net/{bridge}").exists()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # The agent is gone; its engine, bridge and firewall rules are not.
        assert subprocess.run(["pgrep", "-f", f"dockerd .*{run_dir}"], capture_output=True).returncode == 0
        assert Path(f"/sys/class/net/rondo-rd{index}").exists()
        assert (data_dir / "jobs" / "killed-job").exists()

        cleaned = SlotPool(settings.run_root, settings.subnet).clean_stale()

        assert cleaned >= 1
        deadline = time.monotonic() + 10
        while subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "the killed agent's engine still runs"
            time.sleep(0.1)
        assert not Path(f"/sys/class/net/rondo-rd{index}").exists()
        assert not Path(f"/sys/class/net/{bridge}").exists(), "the network the job made is left"
        rules = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True).stdout
        assert IPTABLES_COMMENT.format(index=index) not in rules
        assert not (data_dir / "jobs" / "killed-job").exists()
        assert not run_dir.exists()
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(data_dir)], check=False)


@needs_root_dockerd
async def test_a_kept_layer_store_never_takes_other_engines_bridges_with_it() -> None:
    """An engine deletes the networks its store remembers, and their bridges: kept stores must remember none."""
    data_dir = Path("/var/tmp") / f"rondo-remote-docker-kept-{os.getpid()}"
    data_dir.mkdir(mode=0o755, exist_ok=True)
    host = RemoteDockerHost(RemoteDockerSettings(data_dir=data_dir), lambda: None)

    def links() -> set[str]:
        return set(os.listdir("/sys/class/net"))

    try:
        first = await host.start(job="kept-1", project="p", address=None, keep_layers=True, on_output=print)
        await host.stop(first)
        other = await host.start(job="other", project="q", address=None, keep_layers=False, on_output=print)
        try:
            before = links()
            again = await host.start(job="kept-2", project="p", address=None, keep_layers=True, on_output=print)
            assert "reusing a kept layer store" in " ".join(again.notes)
            gone = {name for name in before - links() if name == "docker0" or name.startswith("rondo-rd")}
            await host.stop(again)
            assert gone == set(), f"starting on a kept store removed {gone}"
            assert other.slot.bridge in links()
        finally:
            await host.stop(other)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_kept_layer_stores_unused_for_days_are_removed_unless_a_job_holds_them(tmp_path: Path) -> None:
    host = RemoteDockerHost(RemoteDockerSettings(data_dir=tmp_path, dlc_unused_days=3), lambda: None)
    old_idle, old_busy, recent = (tmp_path / "dlc" / "p" / k for k in ("0", "1", "2"))
    for store in (old_idle, old_busy, recent):
        (store / "engine").mkdir(parents=True)
        (store / ".last-used").touch()
    four_days_ago = time.time() - 4 * 86400
    for store in (old_idle, old_busy):
        os.utime(store / ".last-used", (four_days_ago, four_days_ago))
    busy = try_lock(old_busy / ".lock")  # a running job's engine holds it
    assert busy is not None
    try:
        host._expire_kept_stores()
    finally:
        os.close(busy)
    assert not old_idle.exists()
    assert (old_busy / "engine").exists() and (recent / "engine").exists()
