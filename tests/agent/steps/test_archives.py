"""Cache and workspace archives: a faithful round trip, and hostile archives refused with nothing
written outside the destination (tar-slip, absolute names, symlink and hard link escapes, devices,
links planted in the destination beforehand, archives over the limits)."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from backports import zstd
from backports.zstd import tarfile

from rondo.agent.steps.archives import ArchiveLimits, UnsafeArchive, extract_on_host, pack_on_host

LIMITS = ArchiveLimits()


def _archive(path: Path, members: list[tuple[str, str, bytes | str]]) -> Path:
    """A .tar.zst of (name, kind, data-or-link-target) members, kind one of file, dir, sym, hard, fifo."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            if kind == "file":
                assert isinstance(data, bytes)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}[kind]  # fmt: skip
            if kind in ("sym", "hard"):
                assert isinstance(data, str)
                info.linkname = data
            tar.addfile(info)
    path.write_bytes(zstd.compress(raw.getvalue()))
    return path


def _everything(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(destination, a sibling folder that must stay untouched)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    return tmp_path / "dest", outside


def test_round_trip_keeps_files_modes_links_and_strips_setuid(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "deep" / "er" / "file.txt").write_text("hello")
    (src / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "run.sh", 0o4755)
    (src / "link").symlink_to("deep/er/file.txt")
    (src / "empty").mkdir()
    archive = tmp_path / "a.tar.zst"
    files, missing = pack_on_host([(src, "ws"), (tmp_path / "absent", "nope")], archive)
    assert files == 2 and missing == [tmp_path / "absent"]
    dest = tmp_path / "dest"
    report = extract_on_host(archive, [("ws/", dest)], LIMITS, strict_links=True)
    assert report.files == 2 and report.bytes == len("hello") + len("#!/bin/sh\n")
    assert (dest / "deep" / "er" / "file.txt").read_text() == "hello"
    assert os.readlink(dest / "link") == "deep/er/file.txt" and (dest / "link").read_text() == "hello"
    assert (dest / "empty").is_dir()
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755  # setuid gone, exec kept


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("../precious.txt", "file", b"pwned")], "climbs out"),
        ([("a/../../precious.txt", "file", b"pwned")], "climbs out"),
        ([("/tmp/rondo-absolute-evil.txt", "file", b"pwned")], "absolute path"),
        ([("esc", "sym", "../outside")], "outside its destination"),
        ([("esc", "sym", "/etc")], "outside its destination"),
        ([("hl", "hard", "../outside/precious.txt")], "climbs out"),
        ([("dev", "chr", "")], "special file"),
        ([("pipe", "fifo", "")], "special file"),
    ],
)
def test_hostile_members_are_refused(sandbox: tuple[Path, Path], tmp_path: Path, members: list, message: str) -> None:
    dest, outside = sandbox
    archive = _archive(tmp_path / "evil.tar.zst", [("ok.txt", "file", b"fine"), *members])
    with pytest.raises(UnsafeArchive, match=message):
        extract_on_host(archive, [("", dest)], LIMITS, strict_links=True)
    assert (outside / "precious.txt").read_text() == "keep me"
    assert _everything(outside) == {"precious.txt"}
    assert not Path("/tmp/rondo-absolute-evil.txt").exists()


def test_a_link_that_may_point_out_is_never_written_through(sandbox: tuple[Path, Path], tmp_path: Path) -> None:
    """Caches keep links to anywhere (a virtualenv's python), but no member is written through one."""
    dest, outside = sandbox
    archive = _archive(
        tmp_path / "evil.tar.zst",
        [("venv/python", "sym", "/usr/bin/python3"), ("out", "sym", str(outside)), ("out/precious.txt", "file", b"x")],
    )
    with pytest.raises(UnsafeArchive, match="written through the link"):
        extract_on_host(archive, [("", dest)], LIMITS, strict_links=False)
    assert os.readlink(dest / "venv" / "python") == "/usr/bin/python3"
    assert (outside / "precious.txt").read_text() == "keep me"


def test_links_planted_in_the_destination_beforehand_are_not_followed(
    sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    dest, outside = sandbox
    dest.mkdir()
    (dest / "dir").symlink_to(outside)  # a job made these before attaching the workspace
    (dest / "file").symlink_to(outside / "precious.txt")
    archive = _archive(tmp_path / "a.tar.zst", [("file", "file", b"replaced the link, not its target")])
    extract_on_host(archive, [("", dest)], LIMITS, strict_links=True)
    assert not (dest / "file").is_symlink() and (dest / "file").read_bytes().startswith(b"replaced")
    archive = _archive(tmp_path / "b.tar.zst", [("dir/precious.txt", "file", b"pwned")])
    with pytest.raises(UnsafeArchive, match="written through the link"):
        extract_on_host(archive, [("", dest)], LIMITS, strict_links=True)
    assert (outside / "precious.txt").read_text() == "keep me"


def test_members_outside_every_route_and_archives_over_the_limits(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    archive = _archive(tmp_path / "a.tar.zst", [("home/a", "file", b"1"), ("elsewhere/b", "file", b"2")])
    with pytest.raises(UnsafeArchive, match="not under 'home/'"):
        extract_on_host(archive, [("home/", dest)], LIMITS, strict_links=True)
    many = _archive(tmp_path / "many.tar.zst", [(f"f{i}", "file", b"x") for i in range(5)])
    with pytest.raises(UnsafeArchive, match="more than 3 members"):
        extract_on_host(many, [("", dest)], ArchiveLimits(max_members=3), strict_links=True)
    big = _archive(tmp_path / "big.tar.zst", [("a", "file", b"x" * 600), ("b", "file", b"x" * 600)])
    with pytest.raises(UnsafeArchive, match="more than 1000 bytes"):
        extract_on_host(big, [("", dest)], ArchiveLimits(max_bytes=1000), strict_links=True)


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_every_common_tar_format_reads_back(tmp_path: Path, fmt: int) -> None:
    """Long names (PAX records, GNU long-name members, ustar's prefix field) and long link targets."""
    long_dir = "d" * 60 + "/" + "e" * 60
    long_name = f"{long_dir}/{'f' * 80}.txt"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for name, data in ((long_name, b"long"), ("short.txt", b"")):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, long_name if fmt != tarfile.USTAR_FORMAT else "short.txt"
        tar.addfile(link)
    archive = tmp_path / "a.tar.zst"
    archive.write_bytes(zstd.compress(raw.getvalue()))
    dest = tmp_path / "dest"
    report = extract_on_host(archive, [("", dest)], LIMITS, strict_links=True)
    assert report.files == 2 and (dest / long_name).read_bytes() == b"long"
    assert (dest / long_name).stat().st_mtime == 1_700_000_000
    assert (dest / "link").read_bytes() == (b"long" if fmt != tarfile.USTAR_FORMAT else b"")


def test_damaged_and_truncated_archives_are_refused(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("file.txt")
        info.size = 2000
        tar.addfile(info, io.BytesIO(b"x" * 2000))
    data = bytearray(raw.getvalue())
    damaged, truncated = bytes(data[:100]) + b"X" + bytes(data[101:]), bytes(data[:1024])
    for label, body, message in (("damaged", damaged, "checksum"), ("truncated", truncated, "ends in the middle")):
        archive = tmp_path / f"{label}.tar.zst"
        archive.write_bytes(zstd.compress(body))
        with pytest.raises(UnsafeArchive, match=message):
            extract_on_host(archive, [("", tmp_path / label)], LIMITS, strict_links=True)
