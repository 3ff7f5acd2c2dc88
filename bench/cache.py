"""Cache save and restore (the agent's tar.zst code) against `tar | zstd -1` of the same tree, same run.

The tree is 200 MB of mixed files: many small source-like files, medium ones, a few large ones,
half of the bytes compressible and half random. The two sides alternate five times; each one's best counts.
Target: save and restore each at most 1.25 x the baseline.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rondo.agent.steps.archives import ArchiveLimits, extract_on_host, pack_on_host

MB = 1024 * 1024
WORDS = [b"def", b"return", b"import", b"class", b"self", b"value", b"cache", b"rondo", b"job", b"step", b"\n"]


def make_tree(root: Path, total: int = 200 * MB, seed: int = 7) -> int:
    """Small, medium and large files, half source-like text and half random bytes; returns files made."""
    rng = random.Random(seed)
    written = files = 0
    plan = [(4 * 1024, 0.35), (256 * 1024, 0.35), (16 * MB, 0.30)]  # (file size, share of the bytes)
    for size, share in plan:
        budget = int(total * share)
        while budget > 0:
            directory = root / f"d{files // 200:03d}"
            directory.mkdir(parents=True, exist_ok=True)
            n = min(size, budget)
            text = files % 2 == 0
            data = b" ".join(rng.choice(WORDS) for _ in range(n // 5 + 1))[:n] if text else rng.randbytes(n)
            (directory / f"f{files:06d}.dat").write_bytes(data)
            budget -= n
            written += n
            files += 1
    return files


def _ratio(ours: Callable[[], None], theirs: Callable[[], None], setup: Callable[[], None], rounds: int) -> float:
    """Best time of ours over best time of theirs, the two alternating so that load on the machine hits both."""
    best = {"ours": float("inf"), "theirs": float("inf")}
    for _ in range(rounds):
        for label, fn in (("ours", ours), ("theirs", theirs)):
            setup()
            start = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - start)
    return best["ours"] / best["theirs"]


def run(rounds: int = 5) -> list[str]:
    if shutil.which("zstd") is None or shutil.which("tar") is None:
        return ["cache: skipped (needs the tar and zstd commands for the baseline)"]
    with tempfile.TemporaryDirectory(prefix="rondo-bench-cache-") as tmp:
        base = Path(tmp)
        tree = base / "tree"
        files = make_tree(tree)
        ours, theirs = base / "ours.tar.zst", base / "theirs.tar.zst"
        out = base / "out"

        def clean_out() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            os.sync()  # each side starts with nothing of the other's left to write back

        def nothing() -> None:
            for f in (ours, theirs):
                f.unlink(missing_ok=True)
            os.sync()

        def save_ours() -> None:
            pack_on_host([(tree, "tree")], ours)

        def save_theirs() -> None:
            subprocess.run(f"tar -C {base} -cf - tree | zstd -q -f -1 -o {theirs}", shell=True, check=True)

        save = _ratio(save_ours, save_theirs, nothing, rounds)
        save_ours()
        save_theirs()

        def restore_ours() -> None:
            extract_on_host(ours, [("", out)], ArchiveLimits(), strict_links=True)

        def restore_theirs() -> None:
            subprocess.run(f"zstd -q -d -c {theirs} | tar -C {out} -xf -", shell=True, check=True)

        restore = _ratio(restore_ours, restore_theirs, clean_out, rounds)
        sizes = ours.stat().st_size / theirs.stat().st_size
    cpus = os.cpu_count() or 1
    return [
        f"cache save / tar|zstd -1 ({files} files, 200 MB, {cpus} CPUs): {save:.2f}x (target <= 1.25)",
        f"cache restore / zstd -d|tar x: {restore:.2f}x (target <= 1.25); archive size ratio {sizes:.2f}",
    ]


if __name__ == "__main__":
    for line in run():
        print(line)
