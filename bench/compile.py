"""Per corpus config: compile time (orbs already in the registry) / PyYAML C-loader parse time, same run.

Orbs come from the corpus folder through the same parsed-orb cache the server keeps, so an orb is
read once, as a registry-backed server reads it once. Reports the median and p90 of the ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from rondo.config import ConfigErrors, DirectoryOrbSource, compile_config, local_pipeline_values

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def ratios(repeat: int = 5) -> list[tuple[str, float]]:
    source = DirectoryOrbSource(CORPUS / "orbs")
    cache: dict[str, Any] = {}
    values = local_pipeline_values()
    out = []
    for path in sorted((CORPUS / "configs").glob("*.yml")):
        text = path.read_text()

        def compile_once(text: str = text) -> None:
            compile_config(text, orb_source=source, orb_cache=cache, pipeline_values=values)

        try:
            compile_once()
            yaml.load(text, Loader=yaml.CSafeLoader)
        except ConfigErrors:
            continue  # imports an orb whose source is not public
        except yaml.YAMLError:
            continue  # redefines an anchor, which libyaml's composer refuses: no baseline to compare with
        ours = _best(compile_once, repeat)
        base = _best(lambda text=text: yaml.load(text, Loader=yaml.CSafeLoader), repeat)
        out.append((path.stem, ours / base))
    return out


def run() -> tuple[str, float, float]:
    """(label, median ratio, p90 ratio)."""
    found = sorted(r for _, r in ratios())
    p90 = found[min(len(found) - 1, int(len(found) * 0.9))]
    return (f"compile / yaml CLoader ({len(found)} configs)", statistics.median(found), p90)


if __name__ == "__main__":
    label, median, p90 = run()
    print(f"{label}: median {median:.2f}x, p90 {p90:.2f}x (target: median <= 3)")
