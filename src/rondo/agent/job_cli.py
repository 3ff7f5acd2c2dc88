"""The `circleci` / `circleci-agent` command inside jobs: tests glob|split|run, env subst, step halt.

Agents copy this file into every job (machine and docker) and put it first on PATH under both
names. It uses the standard library only, so any image with python3 can run it (CONFIG-SPEC §7).
Splitting: by name, items are sorted and item i goes to node i mod N; by file size, and by timings
(the job's last stored test results, RONDO_TEST_TIMINGS), largest first onto the least-loaded node,
ties to the lower index; without timings for any item, by name with CircleCI's fallback message.
"""

from __future__ import annotations

import argparse
import glob as globmod
import os
import re
import subprocess
import sys

TIMINGS_FALLBACK = "Error auto-detecting timing type, falling back to weighting by name."


def _expand_braces(pattern: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    out = []
    for option in match.group(1).split(","):
        out.extend(_expand_braces(pattern[: match.start()] + option + pattern[match.end() :]))
    return out


def glob_files(patterns: list[str]) -> list[str]:
    """Files matching any pattern (`*`, `**`, `?`, `[abc]`, `{a,b}`), sorted and without duplicates."""
    found: set[str] = set()
    for pattern in patterns:
        for expanded in _expand_braces(pattern):
            for path in globmod.glob(expanded, recursive=True):
                if os.path.isfile(path):
                    found.add(path)
    return sorted(found)


def _node() -> tuple[int, int]:
    total = int(os.environ.get("CIRCLE_NODE_TOTAL", "1") or 1)
    index = int(os.environ.get("CIRCLE_NODE_INDEX", "0") or 0)
    return index, max(total, 1)


def split(items: list[str], by: str, index: int, total: int) -> list[str]:
    if by == "name":
        ordered = sorted(items)
        return [item for i, item in enumerate(ordered) if i % total == index]
    sizes = {item: (os.path.getsize(item) if os.path.isfile(item) else 0) for item in items}
    loads = [0] * total
    nodes: list[list[str]] = [[] for _ in range(total)]
    for item in sorted(items, key=lambda x: (-sizes[x], x)):
        target = min(range(total), key=lambda n: (loads[n], n))
        nodes[target].append(item)
        loads[target] += sizes[item]
    return sorted(nodes[index])


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _items(files: list[str]) -> list[str]:
    text = "".join(_read(f) + "\n" for f in files) if files else sys.stdin.read()
    return [line for line in re.split(r"[\s]+", text) if line]


def env_subst(text: str) -> str:
    """`$VAR` and `${VAR}` from the environment; unset variables become empty."""

    def value(match: re.Match[str]) -> str:
        return os.environ.get(match.group(1) or match.group(2), "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", value, text)


def _seconds(text: str) -> float:
    match = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m|h)?\s*", text or "")
    if match is None:
        return 10.0
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[match.group(2) or "s"]
    return float(match.group(1)) * scale


def _load_timings() -> dict[str, dict[str, float]] | None:
    path = os.environ.get("RONDO_TEST_TIMINGS")
    if not path or not os.path.isfile(path):
        return None
    import json

    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data if isinstance(data, dict) else None


def split_by_timings(
    items: list[str], timings: dict[str, dict[str, float]], kind: str, default_s: float, index: int, total: int
) -> list[str] | None:
    """Past run times (from the job's last stored test results): heaviest first onto the lightest node.

    None when no item has a timing (the caller falls back to names, as CircleCI does).
    """
    tables = {"filename": timings.get("files", {}), "classname": timings.get("classnames", {})}
    table = {os.path.normpath(k): v for k, v in tables.get(kind, {}).items()} if kind in tables else None
    if kind == "autodetect":
        for candidate in ("filename", "classname"):
            normalised = {os.path.normpath(k): v for k, v in tables[candidate].items()}
            if any(os.path.normpath(item) in normalised for item in items):
                table = normalised
                break
    if not table or not any(os.path.normpath(item) in table for item in items):
        return None
    weights = {item: table.get(os.path.normpath(item), default_s) for item in items}
    loads = [0.0] * total
    nodes: list[list[str]] = [[] for _ in range(total)]
    for item in sorted(items, key=lambda x: (-weights[x], x)):
        target = min(range(total), key=lambda n: (loads[n], n))
        nodes[target].append(item)
        loads[target] += weights[item]
    return sorted(nodes[index])


def _split(args: argparse.Namespace, items: list[str], index: int, total: int) -> list[str]:
    if args.split_by == "timings":
        timings = _load_timings()
        if timings is not None:
            kind = {"testname": "classname"}.get(args.timings_type, args.timings_type)
            chosen = split_by_timings(items, timings, kind, _seconds(args.time_default), index, total)
            if chosen is not None:
                return chosen
        print(TIMINGS_FALLBACK, file=sys.stderr)
        return split(items, "name", index, total)
    return split(items, str(args.split_by), index, total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="circleci")
    sub = parser.add_subparsers(dest="command", required=True)
    tests = sub.add_parser("tests").add_subparsers(dest="tests_command", required=True)
    g = tests.add_parser("glob")
    g.add_argument("patterns", nargs="+")
    for name in ("split", "run"):
        p = tests.add_parser(name)
        p.add_argument("files", nargs="*")
        p.add_argument("--split-by", default="name", choices=["name", "filesize", "timings"])
        p.add_argument("--timings-type", default="autodetect")
        p.add_argument("--time-default", default="10s")
        p.add_argument("--index", type=int)
        p.add_argument("--total", type=int)
        if name == "run":
            p.add_argument("--command", required=True)
            p.add_argument("--verbose", action="store_true")
    env = sub.add_parser("env").add_subparsers(dest="env_command", required=True)
    e = env.add_parser("subst")
    e.add_argument("text", nargs="?")
    for name in ("step", "task"):
        sub.add_parser(name).add_subparsers(dest="action", required=True).add_parser("halt")
    args = parser.parse_args(argv)

    if args.command == "tests" and args.tests_command == "glob":
        print("\n".join(glob_files(args.patterns)))
        return 0
    if args.command == "tests":
        index, total = _node()
        index = args.index if args.index is not None else index
        total = args.total if args.total is not None else total
        chosen = _split(args, _items(args.files), index, total)
        if args.tests_command == "split":
            print("\n".join(chosen))
            return 0
        if args.verbose:
            print(f"running {len(chosen)} items on node {index} of {total}", file=sys.stderr)
        return subprocess.run(args.command, shell=True, input="\n".join(chosen) + "\n", text=True).returncode
    if args.command == "env":
        text = args.text if args.text is not None else sys.stdin.read()
        sys.stdout.write(env_subst(text))
        return 0
    # step halt / task halt: the agent sees the marker when this step ends and stops the job, successful.
    marker = os.environ.get("RONDO_HALT_FILE")
    if not marker:
        print("circleci: step halt works only inside a job run by a Rondo agent", file=sys.stderr)
        return 1
    with open(marker, "w", encoding="utf-8") as f:
        f.write("halt\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
