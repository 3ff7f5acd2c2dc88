"""The storage steps' view of a docker job's files, in a real container (the local rondo/base image):
archives leave with get_archive and enter with put_archive; hostile members never reach the daemon."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backports import zstd
from backports.zstd import tarfile

from rondo.agent.executors.docker_files import DockerFiles
from rondo.agent.steps.archives import ArchiveLimits, UnsafeArchive
from rondo.agent.steps.job_files import JobFilesError

IMAGE = "rondo/base:bookworm"


@pytest.fixture
def container() -> Iterator[Any]:
    import docker

    client = docker.from_env()
    box = client.containers.run(IMAGE, ["sleep", "300"], detach=True, labels={"rondo.test": "docker-files"})
    try:
        yield box
    finally:
        box.remove(force=True)
        client.close()


def sh(container: Any, script: str) -> str:
    result = container.exec_run(["/bin/sh", "-c", script])
    assert result.exit_code == 0, result.output
    return bytes(result.output).decode()


async def test_pack_unpack_list_read_and_fetch(container: Any, tmp_path: Path) -> None:
    sh(
        container,
        "mkdir -p /root/project/deps/sub /opt/tool && echo one > /root/project/deps/sub/a.txt && "
        "ln -s sub/a.txt /root/project/deps/link && echo two > /opt/tool/bin && echo '{}' > /root/x.json",
    )
    files = DockerFiles(container, "/root", "/root/project")
    assert files.expand("deps") == "/root/project/deps" and files.expand("~/x") == "/root/x"
    assert await files.list_dir("/root/project/deps") == ["link", "sub"]
    assert await files.list_dir("/root/x.json") is None
    assert await files.read_file("/root/x.json", 100) == b"{}\n"
    with pytest.raises(FileNotFoundError):
        await files.read_file("/root/none", 100)
    with pytest.raises(JobFilesError, match="larger than 1 bytes"):
        await files.read_file("/root/x.json", 1)

    archive = tmp_path / "cache.tar.zst"
    count, missing = await files.pack(
        [("/root/project/deps", "home/project/deps"), ("/opt/tool", "abs/opt/tool"), ("/nope", "abs/nope")], archive
    )
    assert (count, missing) == (2, ["/nope"])
    sh(container, "rm -rf /root/project/deps /opt/tool")
    report = await files.unpack(archive, [("home/", "/root"), ("abs/", "/")], ArchiveLimits(), strict_links=False)
    assert report.files == 2
    assert sh(container, "cat /root/project/deps/link /opt/tool/bin; readlink /root/project/deps/link") == (
        "one\ntwo\nsub/a.txt\n"
    )

    fetched = await files.fetch("/root/project/deps", tmp_path / "out")
    assert fetched is not None and (fetched / "sub" / "a.txt").read_text() == "one\n"
    assert await files.fetch("/root/none", tmp_path / "none") is None


async def test_hostile_archives_never_reach_the_container(container: Any, tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name in ("ok.txt", "../../etc/evil"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"x\n"))
    archive = tmp_path / "evil.tar.zst"
    archive.write_bytes(zstd.compress(raw.getvalue()))
    files = DockerFiles(container, "/root", "/root/project")
    with pytest.raises(UnsafeArchive, match="climbs out"):
        await files.unpack(archive, [("", "/root/ws")], ArchiveLimits(), strict_links=True)
    assert sh(container, "ls -A /root/ws 2>/dev/null; ls /etc/evil 2>/dev/null; true") == ""
    assert not Path("/etc/evil").exists()  # noqa: ASYNC240 (and nothing on the agent's host either)
