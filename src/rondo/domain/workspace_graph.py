"""Which workspace layers a job sees: those of its upstream jobs, in the order of the workflow graph.

CircleCI applies the layers of a job's upstream jobs (transitively, through `requires`) in the order
the jobs appear in the graph; layers of jobs that ran concurrently may not write the same file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence


def upstream(requires: Mapping[str, Collection[str]], name: str) -> set[str]:
    """Every job `name` requires, directly or through other jobs."""
    found: set[str] = set()
    stack = list(requires.get(name, ()))
    while stack:
        job = stack.pop()
        if job not in found:
            found.add(job)
            stack.extend(requires.get(job, ()))
    return found


def graph_order(names: Sequence[str], requires: Mapping[str, Collection[str]]) -> list[str]:
    """A topological order of the jobs (required jobs first); ties keep the config's order."""
    position = {name: i for i, name in enumerate(names)}
    depth: dict[str, int] = {}

    def level(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            parents = [r for r in requires.get(name, ()) if r in position and r not in seen]
            depth[name] = 1 + max((level(p, seen | {name}) for p in parents), default=-1)
        return depth[name]

    return sorted(names, key=lambda n: (level(n), position[n]))


def layers_to_attach(
    names: Sequence[str], requires: Mapping[str, Collection[str]], job: str
) -> list[tuple[str, set[str]]]:
    """The upstream jobs of `job` in graph order, each with its own upstream jobs (to tell concurrent ones)."""
    mine = upstream(requires, job)
    return [(name, upstream(requires, name)) for name in graph_order(names, requires) if name in mine]
