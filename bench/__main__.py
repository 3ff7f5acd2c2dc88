"""`make bench`: each benchmark prints a ratio against a baseline measured in the same run.

- compile: per corpus config, compile time over PyYAML's C loader on the same text (median, p90).
- trigger-to-first-step: API trigger until the first step has started on the built-in agent,
  against spawning a bare `bash -c true` process (the machine executor's floor).
"""

from __future__ import annotations

import sys

from bench import compile, latency_bench


def main() -> int:
    label, median, p90 = compile.run()
    print(f"{label}: median {median:.2f}x, p90 {p90:.2f}x (target: median <= 3)")
    results = [latency_bench.run()]
    print(f"{'benchmark':32} {'rondo':>12} {'baseline':>12} {'ratio':>8}")
    for name, ours, base in results:
        print(f"{name:32} {ours * 1000:10.2f}ms {base * 1000:10.2f}ms {ours / base:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
