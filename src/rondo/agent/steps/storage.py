"""The storage steps, one implementation for every executor: caches, workspaces, artifacts, test results.

Each step talks to the server for presigned URLs (`StorageApi`), moves the bytes itself (`Transfers`)
and reaches the job's files through the executor's `JobFiles`. A failed upload fails the step with
the reason; nothing is ever reported saved that did not arrive whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from rondo.agent.steps.archives import ArchiveLimits, UnsafeArchive
from rondo.agent.steps.cache_keys import CacheKeyError, KeyContext, arch_string, checksum_of, render_key
from rondo.agent.steps.globs import has_magic, match
from rondo.agent.steps.job_files import JobFiles, JobFilesError
from rondo.agent.steps.junit import MAX_FILE_BYTES, JUnitError, parse
from rondo.domain.agent_protocol import (
    BuiltinStepSpec,
    CaseResult,
    CaseResultsBatch,
    CommitRequest,
    CommitResult,
    DownloadGrant,
    DownloadRequest,
    PresignedUpload,
    TaskSpec,
    UploadFile,
    UploadGrant,
    UploadKind,
    UploadRequest,
)
from rondo.domain.status import StepStatus

Output = Callable[[bytes], None]
STEPS = frozenset(
    {"save_cache", "restore_cache", "store_artifacts", "store_test_results", "persist_to_workspace", "attach_workspace"}
)
ARTIFACT_BATCH = 500
TEST_BATCH = 2000
PARALLEL_UPLOADS = 8
LISTED_FILES = 50  # artifacts and test files named one by one in the output; the rest are counted


class StorageApi(Protocol):
    async def request_uploads(self, task_id: str, req: UploadRequest) -> UploadGrant: ...

    async def commit_uploads(self, task_id: str, req: CommitRequest) -> CommitResult: ...

    async def request_downloads(self, task_id: str, req: DownloadRequest) -> DownloadGrant: ...

    async def send_test_results(self, task_id: str, batch: CaseResultsBatch) -> CommitResult: ...


class ByteMover(Protocol):
    async def upload(self, url: str, headers: dict[str, str], path: Path, size: int) -> None: ...

    async def download(self, url: str, dest: Path) -> int: ...


class StepFailed(Exception):
    """The step fails with this message (a bad option, a refused or failed upload, an unsafe archive)."""


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _strings(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise StepFailed(f"`{what}` must be a string or a list of strings")


class StorageSteps:
    def __init__(
        self,
        api: StorageApi,
        mover: ByteMover,
        spec: TaskSpec,
        agent_id: str,
        scratch: Path,
        limits: ArchiveLimits | None = None,
    ) -> None:
        self._api = api
        self._mover = mover
        self._spec = spec
        self._agent_id = agent_id
        self._scratch = scratch
        self._limits = limits or ArchiveLimits()
        self._arch = ""

    @staticmethod
    def handles(step: BuiltinStepSpec) -> bool:
        return step.step in STEPS

    async def run(self, step: BuiltinStepSpec, files: JobFiles, out: Output) -> StepStatus:
        """Run one storage step; StepFailed (with the reason) when it fails."""
        handlers: dict[str, Callable[[dict[str, Any], JobFiles, Output], Awaitable[None]]] = {
            "save_cache": self._save_cache,
            "restore_cache": self._restore_cache,
            "persist_to_workspace": self._persist,
            "attach_workspace": self._attach,
            "store_artifacts": self._store_artifacts,
            "store_test_results": self._store_test_results,
        }
        self._scratch.mkdir(parents=True, exist_ok=True)
        try:
            await handlers[step.step](dict(step.options), files, out)
        except (CacheKeyError, JobFilesError, UnsafeArchive, JUnitError) as exc:
            raise StepFailed(str(exc)) from exc
        except OSError as exc:  # e.g. a restore into a folder the agent's user may not write
            raise StepFailed(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)) from exc
        return StepStatus.SUCCESS

    @contextlib.contextmanager
    def _temp(self, suffix: str) -> Iterator[Path]:
        fd, name = tempfile.mkstemp(dir=self._scratch, suffix=suffix)
        os.close(fd)
        try:
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)

    # ---- uploads --------------------------------------------------------------------------------

    async def _grant(self, req: UploadRequest) -> UploadGrant:
        return await self._api.request_uploads(self._spec.id, req)

    async def _commit(self, kind: UploadKind, ids: list[str], ok: bool = True) -> CommitResult:
        req = CommitRequest(agent_id=self._agent_id, kind=kind, ids=ids, ok=ok)
        return await self._api.commit_uploads(self._spec.id, req)

    async def _upload_one(self, kind: UploadKind, target: PresignedUpload, path: Path, size: int) -> None:
        try:
            await self._mover.upload(target.url, target.headers, path, size)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self._commit(kind, [target.id], ok=False)
            raise StepFailed(str(exc)) from exc
        await self._commit(kind, [target.id])

    # ---- caches ---------------------------------------------------------------------------------

    def _key_context(self) -> KeyContext:
        env = self._spec.environment
        checkout = self._spec.checkout
        if not self._arch:
            self._arch = arch_string()
        return KeyContext(
            branch=env.get("CIRCLE_BRANCH") or (checkout.branch if checkout and checkout.branch else ""),
            revision=env.get("CIRCLE_SHA1") or (checkout.revision if checkout else ""),
            build_num=self._spec.job_number,
            environment=env,
            arch=self._arch,
        )

    async def _render(self, template: str, files: JobFiles) -> str:
        async def checksum(path: str) -> str:
            full = files.expand(path)
            try:
                return checksum_of(await files.read_file(full, 1024**3))
            except FileNotFoundError:
                raise CacheKeyError(f'cannot compute {{{{ checksum "{path}" }}}}: {full} does not exist') from None

        return await render_key(template, self._key_context(), checksum)

    def _cache_name(self, files: JobFiles, path: str) -> str:
        """Caches keep paths under the home relative to it (`home/...`), others absolute (`abs/...`)."""
        home = files.home.rstrip("/")
        if path == home or path.startswith(home + "/"):
            return ("home/" + path[len(home) :].lstrip("/")).rstrip("/")
        if path == "/":
            raise StepFailed("a cache cannot hold the whole filesystem (`/`)")
        return "abs/" + path.lstrip("/")

    async def _save_cache(self, options: dict[str, Any], files: JobFiles, out: Output) -> None:
        key = await self._render(str(options.get("key", "")), files)
        paths = [files.expand(p) for p in _strings(options.get("paths"), "paths")]
        check = await self._grant(UploadRequest(agent_id=self._agent_id, kind="cache", key=key))
        if check.skip:
            out(f"{check.skip}\n".encode())
            return
        started = time.monotonic()
        out(b"Creating cache archive...\n")
        with self._temp(".tar.zst") as archive:
            count, missing = await files.pack([(p, self._cache_name(files, p)) for p in paths], archive)
            for path in missing:
                out(f"Warning: could not find {path}: it is not in the cache\n".encode())
            if len(missing) == len(paths):
                out(b"Skipping cache generation: none of the paths exist\n")
                return
            size = archive.stat().st_size
            grant = await self._grant(UploadRequest(agent_id=self._agent_id, kind="cache", key=key, size=size))
            if grant.skip:
                out(f"{grant.skip}\n".encode())
                return
            out(f"Uploading cache archive ({human(size)}, {count} files)...\n".encode())
            await self._upload_one("cache", grant.uploads[0], archive, size)
        listing = "".join(f"  * {p}\n" for p in paths if p not in missing)
        took = time.monotonic() - started
        out(f"Stored Cache to {key}\n{listing}Archive size: {human(size)}; took {took:.1f}s\n".encode())

    async def _restore_cache(self, options: dict[str, Any], files: JobFiles, out: Output) -> None:
        templates = ([options["key"]] if options.get("key") else []) + _strings(options.get("keys") or [], "keys")
        keys = [await self._render(str(t), files) for t in templates]
        grant = await self._api.request_downloads(
            self._spec.id, DownloadRequest(agent_id=self._agent_id, kind="cache", keys=keys)
        )
        if not grant.items:
            for key in keys:
                out(f"No cache is found for key: {key}\n".encode())
            out(b"Warning: skipping this step: no cache found for any key\n")
            return
        found = grant.items[0]
        build = f"build {found.build_num}" if found.build_num is not None else "an earlier build"
        out(f"Found a cache from {build} at {found.key}\nSize: {human(found.size)}\n".encode())
        started = time.monotonic()
        with self._temp(".tar.zst") as archive:
            await self._download(found.url, archive)
            out(b"Unarchiving cache...\n")
            report = await files.unpack(
                archive, [("home/", files.home), ("abs/", "/")], self._limits, strict_links=False
            )
        took = time.monotonic() - started
        out(f"Restored {report.files} files ({human(report.bytes)}) in {took:.1f}s\n".encode())

    async def _download(self, url: str, dest: Path) -> int:
        try:
            return await self._mover.download(url, dest)
        except Exception as exc:
            raise StepFailed(str(exc)) from exc

    # ---- workspaces -----------------------------------------------------------------------------

    async def _expand_glob(self, files: JobFiles, root: str, pattern: str) -> list[str]:
        """Paths below `root` matching a Go glob (`*`, `?`, `[...]` per segment, no `**`)."""
        parts = [p for p in pattern.split("/") if p not in ("", ".")]
        found = [""]
        for part in parts:
            if not has_magic(part):
                found = [posixpath.join(f, part) if f else part for f in found]
                continue
            matched: list[str] = []
            for prefix in found:
                names = await files.list_dir(posixpath.join(root, prefix) if prefix else root)
                for name in names or []:
                    if match(part, name):
                        matched.append(posixpath.join(prefix, name) if prefix else name)
            found = matched
        return found

    async def _persist(self, options: dict[str, Any], files: JobFiles, out: Output) -> None:
        root = files.expand(str(options.get("root") or "."))
        sources: list[tuple[str, str]] = []
        for pattern in _strings(options.get("paths"), "paths"):
            relative = pattern
            if pattern.startswith("/") or pattern.startswith("~"):
                full = files.expand(pattern)
                if not (full + "/").startswith(root.rstrip("/") + "/"):
                    raise StepFailed(f"the workspace path {pattern} is not inside the root {root}")
                relative = posixpath.relpath(full, root)
            if ".." in relative.split("/"):
                raise StepFailed(f"the workspace path {pattern} climbs out of the root {root}")
            matches = await self._expand_glob(files, root, relative)
            if not matches:
                raise StepFailed(f"The specified path {pattern} did not match any files in {root}")
            sources.extend((posixpath.join(root, m) if m else root, m or ".") for m in matches)
        started = time.monotonic()
        out(b"Creating workspace archive...\n")
        with self._temp(".tar.zst") as archive:
            count, missing = await files.pack(sources, archive)
            if missing:
                raise StepFailed(f"cannot persist {', '.join(missing)}: no such file or directory")
            size = archive.stat().st_size
            grant = await self._grant(UploadRequest(agent_id=self._agent_id, kind="workspace", size=size))
            out(b"Uploading workspace archive...\n")
            await self._upload_one("workspace", grant.uploads[0], archive, size)
        took = time.monotonic() - started
        out(f"Total size uploaded: {human(size)} ({count} files); took {took:.1f}s\n".encode())

    async def _attach(self, options: dict[str, Any], files: JobFiles, out: Output) -> None:
        at = files.expand(str(options.get("at") or "."))
        grant = await self._api.request_downloads(
            self._spec.id, DownloadRequest(agent_id=self._agent_id, kind="workspace")
        )
        if not grant.items:
            out(b"No workspace to attach: none of this job's upstream jobs persisted to the workspace\n")
            return
        out(f"Downloading workspace layers (workspace {grant.workspace_id})\n".encode())
        written_by: dict[str, int] = {}
        started = time.monotonic()
        total_files = 0
        for index, layer in enumerate(grant.items):

            def check(name: str, index: int = index, upstream: frozenset[int] = frozenset(layer.upstream)) -> None:
                earlier = written_by.get(name)
                if earlier is not None and earlier != index and earlier not in upstream:
                    raise StepFailed(
                        f"Concurrent upstream jobs persisted the same file(s) into the workspace: {name} "
                        f"(from {grant.items[earlier].job_name} and {grant.items[index].job_name})"
                    )
                written_by[name] = index

            out(f"  {layer.job_name} (build {layer.build_num}): {human(layer.size)}\n".encode())
            with self._temp(".tar.zst") as archive:
                await self._download(layer.url, archive)
                report = await files.unpack(archive, [("", at)], self._limits, strict_links=True, on_member=check)
            total_files += report.files
        took = time.monotonic() - started
        out(f"Applied {len(grant.items)} workspace layers to {at}: {total_files} files in {took:.1f}s\n".encode())

    # ---- artifacts and test results ---------------------------------------------------------------

    @staticmethod
    def _walk(local: Path) -> list[tuple[Path, str]]:
        """(file on this host, path relative to `local`) for every regular file, `local` itself if a file."""
        if local.is_file():
            return [(local, "")]
        found = []
        for dirpath, dirnames, names in os.walk(local):
            dirnames.sort()
            for name in sorted(names):
                path = Path(dirpath, name)
                if path.is_file():
                    found.append((path, path.relative_to(local).as_posix()))
        return found

    async def _store_artifacts(self, options: dict[str, Any], files: JobFiles, out: Output) -> None:
        source = files.expand(str(options.get("path", "")))
        destination = str(options.get("destination") or source.lstrip("/")).strip("/")
        with tempfile.TemporaryDirectory(dir=self._scratch, prefix="artifacts-") as tmp:
            local = await files.fetch(source, Path(tmp))
            if local is None:
                out(f"No artifact files found at {source}\n".encode())
                return
            found = await asyncio.to_thread(self._walk, local)
            if not found:
                out(f"No artifact files found at {source}\n".encode())
                return
            out(f"Uploading {source} to {destination}\n".encode())
            total = 0
            for batch_start in range(0, len(found), ARTIFACT_BATCH):
                batch = found[batch_start : batch_start + ARTIFACT_BATCH]
                sized = [(path, posixpath.join(destination, rel) if rel else destination, path.stat().st_size)
                         for path, rel in batch]  # fmt: skip
                req = UploadRequest(
                    agent_id=self._agent_id,
                    kind="artifacts",
                    files=[UploadFile(path=name, size=size) for _, name, size in sized],
                )
                grant = await self._grant(req)
                await self._upload_artifacts(grant.uploads, sized, out, batch_start)
                total += sum(size for _, _, size in sized)
        if len(found) > LISTED_FILES:
            out(f"  ... and {len(found) - LISTED_FILES} more\n".encode())
        out(f"Uploaded {len(found)} artifacts ({human(total)})\n".encode())

    async def _upload_artifacts(
        self, targets: list[PresignedUpload], sized: list[tuple[Path, str, int]], out: Output, offset: int
    ) -> None:
        gate = asyncio.Semaphore(PARALLEL_UPLOADS)
        failures: list[str] = []

        async def one(target: PresignedUpload, path: Path, name: str, size: int, n: int) -> bool:
            async with gate:
                try:
                    await self._mover.upload(target.url, target.headers, path, size)
                except Exception as exc:
                    failures.append(f"{name}: {exc}")
                    return False
            if n < LISTED_FILES:
                out(f"  {name} ({human(size)})\n".encode())
            return True

        pairs = list(zip(targets, sized, strict=True))
        jobs = [one(t, path, name, size, offset + i) for i, (t, (path, name, size)) in enumerate(pairs)]
        done = await asyncio.gather(*jobs)
        good = [t.id for t, ok in zip(targets, done, strict=True) if ok]
        bad = [t.id for t, ok in zip(targets, done, strict=True) if not ok]
        if good:
            await self._commit("artifacts", good)
        if bad:
            with contextlib.suppress(Exception):
                await self._commit("artifacts", bad, ok=False)
            raise StepFailed(f"{len(bad)} artifact uploads failed; first: {failures[0]}")

    async def _store_test_results(self, options: dict[str, Any], files: JobFiles, out: Output) -> None:
        source = files.expand(str(options.get("path", "")))
        with tempfile.TemporaryDirectory(dir=self._scratch, prefix="tests-") as tmp:
            local = await files.fetch(source, Path(tmp))
            found = await asyncio.to_thread(self._walk, local) if local is not None else []
            reports = [(p, rel) for p, rel in found if p.suffix.lower() == ".xml"]
            if not reports:
                out(f"No test results found at {source}\n".encode())
                return
            out(b"Archiving the following test results\n")
            cases: list[CaseResult] = []
            for n, (path, rel) in enumerate(reports):
                if n < LISTED_FILES:
                    out(f"  * {posixpath.join(source, rel) if rel else source}\n".encode())
                source_name = rel.split("/", 1)[0] if "/" in rel else "unknown"
                try:
                    size = path.stat().st_size
                    if size > MAX_FILE_BYTES:
                        raise JUnitError(f"it is {size} bytes, over the {MAX_FILE_BYTES} bytes allowed")
                    parsed = await asyncio.to_thread(parse, path.read_bytes(), source_name)
                except JUnitError as exc:
                    out(f"Warning: skipping {rel or source}: {exc}\n".encode())
                    continue
                cases.extend(CaseResult.model_validate(c) for c in parsed)
        for batch in _chunks(cases):
            await self._api.send_test_results(
                self._spec.id, CaseResultsBatch(agent_id=self._agent_id, tests=list(batch))
            )
        failed = sum(1 for c in cases if c.result in ("failure", "error"))
        out(f"\nUploaded {len(cases)} test results ({failed} failed)\n".encode())


def _chunks(cases: list[CaseResult]) -> Iterator[list[CaseResult]]:
    for start in range(0, len(cases), TEST_BATCH):
        yield cases[start : start + TEST_BATCH]
