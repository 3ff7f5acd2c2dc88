"""Compile time of real configs against a plain YAML load of the same text."""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path

from ruamel.yaml import YAML

from rondo.config import ConfigErrors, compile_config

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "configs"


def _texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS.rglob("*.yml")):
        text = path.read_text(errors="replace")
        try:
            compile_config(text)
        except ConfigErrors:
            continue
        texts.append(text)
    if not texts:
        texts.append(
            "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo hi\n"
            "workflows:\n  main:\n    jobs: [build]\n"
        )
    return texts


def run(repeat: int = 7) -> tuple[str, float, float]:
    texts = _texts()
    yaml = YAML(typ="rt")

    def load_all() -> None:
        for t in texts:
            yaml.load(io.StringIO(t))

    def compile_all() -> None:
        for t in texts:
            compile_config(t)

    def median(fn: object) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return (f"compile ({len(texts)} configs)", median(compile_all), median(load_all))
