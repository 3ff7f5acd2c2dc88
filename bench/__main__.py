"""`make bench`: each benchmark prints a ratio against a baseline measured in the same run.

- compile: per corpus config, compile time over PyYAML's C loader on the same text (median, p90).
- dispatch: API trigger -> first step (machine vs a bare spawn, docker vs `docker run`), and claims/s
  by 50 agents on PostgreSQL.
- cache: save and restore of a 200 MB tree against `tar | zstd -1` and `zstd -d | tar x`.
"""

from __future__ import annotations

import sys

from bench import cache, compile, dispatch


def main() -> int:
    label, median, p90 = compile.run()
    print(f"{label}: median {median:.2f}x, p90 {p90:.2f}x (target: median <= 3)")
    for line in dispatch.run():
        print(line)
    for line in cache.run():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
