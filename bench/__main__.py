"""`make bench`: each benchmark prints a ratio against a baseline measured in the same run.

- compile: compiling every corpus config that compiles, against loading the same YAML with ruamel.
- trigger-to-first-step: API trigger until the first step has started on the built-in agent,
  against spawning a bare `bash -c true` process (the machine executor's floor).
"""

from __future__ import annotations

import sys

from bench import compile_bench, latency_bench


def main() -> int:
    results = [compile_bench.run(), latency_bench.run()]
    print(f"{'benchmark':32} {'rondo':>12} {'baseline':>12} {'ratio':>8}")
    for name, ours, base in results:
        print(f"{name:32} {ours * 1000:10.2f}ms {base * 1000:10.2f}ms {ours / base:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
