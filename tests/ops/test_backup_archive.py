"""The backup archive's format: what it holds reads back whole, and every way it can be wrong is refused.

Real files, real zstd and tar: archives are written by `ArchiveWriter`, then damaged the ways disks and
transfers damage them (a flipped byte, a cut-off end), or forged (a part swapped, a member renamed).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from backports.zstd import ZstdFile, tarfile

from rondo.ops.backup_archive import ArchiveWriter, stage
from rondo.ops.backup_format import (
    FORMAT,
    FORMAT_VERSION,
    NOT_INCLUDED,
    BackupError,
    DatabasePart,
    Manifest,
    ObjectsPart,
    SecretPart,
    listing_digest,
)

OBJECTS = {"artifacts/p1/j1/0/a1": b"artifact body\n", "caches/p1/c1": b"\x28\xb5\x2f\xfd cache bytes" * 1000}


def write_archive(path: Path, tmp: Path, *, secret_to: str = "keys/keyring.json", extra: bytes | None = None) -> None:
    db = tmp / "db.sqlite3"
    db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    with path.open("wb") as fh:
        writer = ArchiveWriter(fh)
        d = writer.add_file("database/rondo.sqlite3", db)
        assert d is not None
        k = writer.add_bytes("secrets/keys/keyring.json", b'{"version": 1}\n')
        digests = {}
        for key, data in OBJECTS.items():
            digests[key] = writer.add_bytes(f"objects/{key}", data).sha256
        if extra is not None:
            writer.add_bytes("objects/extra", extra)
        manifest = Manifest(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            rondo_version="0.1.0",
            alembic_revision="0008",
            database_kind="sqlite",
            created_at="2026-01-02T03:04:05Z",
            host="test",
            master_key="keyring",
            database=DatabasePart(path=d.path, bytes=d.bytes, sha256=d.sha256, kind="sqlite", dump_format="sqlite3"),
            secrets=[SecretPart(path=k.path, bytes=k.bytes, sha256=k.sha256, restore_to=secret_to)],
            objects=ObjectsPart(
                backend="local",
                included=True,
                files=len(OBJECTS),
                bytes=sum(len(v) for v in OBJECTS.values()),
                sha256=listing_digest(digests),
            ),
            settings={},
            not_included=NOT_INCLUDED,
        )
        writer.add_bytes("manifest.json", manifest.model_dump_json().encode())
        writer.close()


def members(path: Path) -> list[tuple[str, bytes]]:
    with ZstdFile(path, "r") as zf, tarfile.open(fileobj=zf, mode="r|") as tar:
        out = []
        for m in tar:
            f = tar.extractfile(m)
            assert f is not None
            out.append((m.name, f.read()))
        return out


def repack(path: Path, items: list[tuple[str, bytes]]) -> None:
    with ZstdFile(path, "w") as zf, tarfile.open(fileobj=zf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in items:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def refused(path: Path, tmp: Path) -> str:
    root = tmp / f"staging-{len(list(tmp.glob('staging-*')))}"
    with pytest.raises(BackupError) as caught:
        stage(path, root, lambda _: None)
    return str(caught.value)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "backup.tar.zst"
    write_archive(path, tmp_path)
    return path


def test_an_archive_reads_back_whole(archive: Path, tmp_path: Path) -> None:
    staged = stage(archive, tmp_path / "staging", lambda _: None)
    assert staged.manifest.database_kind == "sqlite"
    assert staged.database.read_bytes().startswith(b"SQLite format 3\x00")
    assert staged.secrets["keys/keyring.json"].read_bytes() == b'{"version": 1}\n'
    assert staged.objects is not None
    found = {p.relative_to(staged.objects).as_posix(): p.read_bytes() for p in staged.objects.rglob("*") if p.is_file()}
    assert found == OBJECTS
    # the database comes first and the manifest, with every part's checksum, last
    names = [name for name, _ in members(archive)]
    assert names[0] == "database/rondo.sqlite3" and names[-1] == "manifest.json"


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_a_flipped_byte_is_refused(archive: Path, tmp_path: Path, where: float) -> None:
    data = bytearray(archive.read_bytes())
    data[int(len(data) * where)] ^= 0x40
    archive.write_bytes(bytes(data))
    message = refused(archive, tmp_path)
    assert "damaged" in message and "nothing was changed" in message


def test_a_truncated_archive_is_refused(archive: Path, tmp_path: Path) -> None:
    data = archive.read_bytes()
    for keep in (len(data) - 10, len(data) // 2, 100):
        archive.write_bytes(data[:keep])
        assert "truncated or damaged" in refused(archive, tmp_path)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a backup\n")
    assert "is not a Rondo backup (not a zstd-compressed archive" in refused(text, tmp_path)

    other = tmp_path / "other.tar.zst"
    repack(other, [("src/main.c", b"int main() {}\n")])
    assert "is not a Rondo backup (it holds 'src/main.c')" in refused(other, tmp_path)

    plain_zstd = tmp_path / "log.zst"
    with ZstdFile(plain_zstd, "w") as zf:
        zf.write(b"just some compressed text, no tar inside\n" * 20)
    assert "is not a Rondo backup (not a tar archive" in refused(plain_zstd, tmp_path)


def test_a_part_swapped_under_its_manifest_is_refused(archive: Path, tmp_path: Path) -> None:
    items = members(archive)
    swapped = [(n, b'{"version": 1, "keys": []}\n' if n == "secrets/keys/keyring.json" else d) for n, d in items]
    repack(archive, swapped)
    assert "secrets/keys/keyring.json does not match its checksum" in refused(archive, tmp_path)

    repack(archive, [(n, d + b"x" if n.startswith("objects/caches") else d) for n, d in items])
    assert "is damaged: it holds 2 objects" in refused(archive, tmp_path)

    repack(archive, [item for item in items if item[0] != "manifest.json"])
    assert "has no manifest" in refused(archive, tmp_path)


def test_members_outside_the_format_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.zst"
    write_archive(archive, tmp_path)
    items = members(archive)
    for bad in ("../etc/passwd", "objects/../../x", "/etc/shadow", "secrets/../../outside", "secrets/other"):
        repack(archive, [*items[:-1], (bad, b"x"), items[-1]])
        assert f"is not a Rondo backup (it holds {bad!r})" in refused(archive, tmp_path)
    assert not (tmp_path.parent / "etc").exists() and not (tmp_path / "outside").exists()
    assert not (tmp_path / "x").exists()

    # a manifest sending a secret file somewhere else in the data dir
    forged = tmp_path / "forged.tar.zst"
    write_archive(forged, tmp_path, secret_to="objects/evil")
    assert "unknown secret file ('objects/evil')" in refused(forged, tmp_path)


def test_a_newer_format_is_refused_with_what_to_do(archive: Path, tmp_path: Path) -> None:
    items = members(archive)
    newer = []
    for name, data in items:
        if name == "manifest.json":
            body = json.loads(data)
            body["format_version"] = FORMAT_VERSION + 1
            data = json.dumps(body).encode()
        newer.append((name, data))
    repack(archive, newer)
    assert f"newer Rondo (archive format {FORMAT_VERSION + 1}); upgrade Rondo" in refused(archive, tmp_path)
