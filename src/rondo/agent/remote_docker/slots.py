"""Slots for job-private Docker engines on this host: a bridge, a subnet, a run folder and a lock each.

Several agents (and the test suites of several checkouts) may run engines on one host, so a slot is
taken with an exclusive `flock` on a host-wide file, held while the engine runs. The lock dies with
its process: whoever takes a slot next first removes what a killed owner left behind (its dockerd,
containerd shims, mounts, firewall rules and bridge), so a `kill -9` never leaks into later jobs.
Slot N owns the /16 subnet N of the configured range: its bridge is x.y.0.1/24, and the networks a
job makes itself (`docker network create`, compose) come from the rest of that /16.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

IPTABLES_COMMENT = "rondo-remote-docker-{index}"


class SlotError(Exception):
    """No slot is free, or this host cannot give one (missing tools, addresses taken)."""


@dataclass(frozen=True)
class Slot:
    index: int
    subnet: ipaddress.IPv4Network  # the /16 this slot's engine and its networks use
    run_dir: Path  # exec-root, sockets, TLS files and pid file of the engine
    lock_fd: int

    @property
    def bridge(self) -> str:
        return f"rondo-rd{self.index}"

    @property
    def bridge_address(self) -> str:
        return f"{self.subnet.network_address + 1}/24"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "dockerd.pid"

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def scratch_list(self) -> Path:
        """Folders to remove with the slot (a job's own layer store), so a killed owner's go too."""
        return self.run_dir / "remove-with-slot"


def _run(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SlotError(f"`{shlex.join(args)}` failed: {(result.stderr or result.stdout).strip()}")
    return result


def _routes() -> list[tuple[ipaddress.IPv4Network, str]]:
    """The host's IPv4 routes (all tables), with the device each goes through."""
    out = _run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    routes = []
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in ("local", "broadcast", "unicast", "multicast", "unreachable", "blackhole"):
            words = words[1:]
        if not words or words[0] == "default":
            continue
        device = words[words.index("dev") + 1] if "dev" in words[:-1] else ""
        try:
            network = ipaddress.ip_network(words[0], strict=False)
        except ValueError:
            continue
        if isinstance(network, ipaddress.IPv4Network):
            routes.append((network, device))
    return routes


class SlotPool:
    def __init__(self, run_root: Path, subnet: str, slots: int = 64) -> None:
        try:
            network = ipaddress.ip_network(subnet)
        except ValueError as exc:
            raise SlotError(f"remote Docker subnet '{subnet}' is not a network: {exc}") from None
        if not isinstance(network, ipaddress.IPv4Network) or network.prefixlen > 16:
            raise SlotError(f"remote Docker subnet '{subnet}' must be an IPv4 network of /16 or larger")
        self.subnets = list(network.subnets(new_prefix=16))[:slots]
        self.run_root = run_root

    def _slot_dir(self, index: int) -> Path:
        return self.run_root / str(index)

    def _try_lock(self, index: int) -> int | None:
        self.run_root.mkdir(parents=True, exist_ok=True, mode=0o711)
        return try_lock(self.run_root / f"{index}.lock")

    def acquire(self) -> Slot:
        """The first free slot whose subnet nothing else on this host routes, cleaned of any leftovers."""
        for index, subnet in enumerate(self.subnets):
            fd = self._try_lock(index)
            if fd is None:
                continue
            slot = Slot(index, subnet, self._slot_dir(index), fd)
            if clean_slot(slot):
                log.info("remote docker slot %d: removed what an earlier owner left", index)
            if any(net.overlaps(subnet) for net, _ in _routes()):
                os.close(fd)  # somebody else's network (a VPN, the other Docker engine): leave it alone
                continue
            return slot
        raise SlotError(f"no free remote Docker slot: all {len(self.subnets)} are taken or their subnets in use")

    def release(self, slot: Slot) -> None:
        clean_slot(slot)
        os.close(slot.lock_fd)

    def clean_stale(self) -> int:
        """Remove what killed owners left in every slot nobody holds; how many slots had leftovers."""
        cleaned = 0
        for index, subnet in enumerate(self.subnets):
            if not (self.run_root / f"{index}.lock").exists():
                continue
            fd = self._try_lock(index)
            if fd is None:
                continue
            try:
                found = clean_slot(Slot(index, subnet, self._slot_dir(index), fd))
                if found:
                    log.info("remote docker slot %d: removed what an earlier owner left", index)
                cleaned += found
            finally:
                os.close(fd)
        return cleaned


def try_lock(path: Path) -> int | None:
    """An exclusive flock on `path` (made if missing) as an open descriptor; None when someone holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def remove_tree(path: Path | str) -> None:
    """Unmount what is mounted below `path`, then delete it without crossing into other file systems."""
    unmount_under(Path(path))
    _run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def _processes_using(path: Path) -> list[int]:
    """Processes whose command line names `path` (the engine, its containerd and the shims)."""
    needle = str(path).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_processes_using(path: Path, grace_s: float = 5.0) -> bool:
    """TERM, then after `grace_s` KILL, every process started for the folder `path`; whether any ran."""
    pids = _processes_using(path)
    found = bool(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 2.0)
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if Path(f"/proc/{p}").exists() and not _is_zombie(p)]
            if pids:
                time.sleep(0.05)
        if not pids:
            break
    return found


def _is_zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except (OSError, IndexError):
        return True


def unmount_under(path: Path) -> None:
    """Lazily unmount everything mounted at or below `path`, deepest first (a crashed engine's layers)."""
    prefix = str(path.resolve())
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[1].encode().decode("unicode_escape") for line in lines if len(line.split()) > 1]
    for point in sorted((p for p in points if p == prefix or p.startswith(prefix + "/")), key=len, reverse=True):
        _run(["umount", "-l", point], check=False)


def _bridges_in(subnet: ipaddress.IPv4Network) -> list[str]:
    """Docker bridges (`br-…`) whose address lies in `subnet`: only an engine of this slot made them."""
    out = _run(["ip", "-4", "-o", "addr", "show"], check=False).stdout
    found = []
    for line in out.splitlines():
        words = line.split()
        if len(words) > 3 and words[1].startswith("br-") and words[2] == "inet":
            with contextlib.suppress(ValueError):
                if ipaddress.ip_interface(words[3]).ip in subnet:
                    found.append(words[1])
    return found


def firewall_rules(slot: Slot) -> list[tuple[str, list[str]]]:
    """(table, rule) pairs giving the slot's containers the outside world: NAT out, forwarding both ways."""
    net = str(slot.subnet)
    tag = ["-m", "comment", "--comment", IPTABLES_COMMENT.format(index=slot.index)]
    return [
        ("nat", ["POSTROUTING", "-s", net, "!", "-d", net, "-j", "MASQUERADE", *tag]),
        ("filter", ["FORWARD", "-s", net, "-j", "ACCEPT", *tag]),
        ("filter", ["FORWARD", "-d", net, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT", *tag]),
    ]


def add_firewall_rules(slot: Slot) -> bool:
    """Insert the slot's rules ahead of others; False (the containers stay offline) without iptables."""
    for table, rule in firewall_rules(slot):
        try:
            result = _run(["iptables", "-w", "-t", table, "-I", rule[0], "1", *rule[1:]], check=False)
        except FileNotFoundError:
            return False
        if result.returncode != 0:
            log.warning("remote docker slot %d: cannot add a firewall rule: %s", slot.index, result.stderr.strip())
            return False
    return True


def remove_firewall_rules(slot: Slot) -> int:
    """Delete every rule tagged with the slot's comment (ours, or a killed owner's); how many."""
    tag = IPTABLES_COMMENT.format(index=slot.index)
    removed = 0
    for table in ("nat", "filter"):
        try:
            listing = _run(["iptables", "-w", "-t", table, "-S"], check=False).stdout
        except FileNotFoundError:
            return removed
        for line in listing.splitlines():
            words = shlex.split(line)
            deleted = len(words) > 2 and words[0] == "-A" and tag in words and _run(
                ["iptables", "-w", "-t", table, "-D", *words[1:]], check=False).returncode == 0  # fmt: skip
            removed += deleted
    return removed


def create_bridge(slot: Slot) -> None:
    _run(["ip", "link", "add", "name", slot.bridge, "type", "bridge"])
    _run(["ip", "addr", "add", slot.bridge_address, "dev", slot.bridge])
    _run(["ip", "link", "set", slot.bridge, "up"])


def clean_slot(slot: Slot) -> int:
    """Remove the engine's processes, mounts, firewall rules and bridge; 1 if anything was there."""
    found = 0
    had_owner = slot.run_dir.exists()  # an engine ran in this slot since the host started
    if had_owner:
        found = int(kill_processes_using(slot.run_dir))
        with contextlib.suppress(OSError):
            for line in slot.scratch_list.read_text().splitlines():
                if line.strip():
                    remove_tree(line)
        remove_tree(slot.run_dir)
    if remove_firewall_rules(slot):
        found = 1
    if Path(f"/sys/class/net/{slot.bridge}").exists():
        found = 1
        _run(["ip", "link", "delete", slot.bridge], check=False)
    # Networks a killed engine made (`docker network create`, compose). Only when an engine ran here: the
    # slot's subnet was free of other routes when it started, so bridges in it are that engine's.
    for device in _bridges_in(slot.subnet) if had_owner else []:
        found = 1
        _run(["ip", "link", "delete", device], check=False)
    return found
