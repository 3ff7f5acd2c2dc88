"""CircleCI's resource classes: the CPUs and memory each stands for, and which ones a machine can offer."""

from __future__ import annotations

# Docker (and machine) classes by size: (CPUs, memory in MB), as CircleCI documents them.
SIZES: dict[str, tuple[float, int]] = {
    "small": (1, 2048),
    "medium": (2, 4096),
    "medium+": (3, 6144),
    "large": (4, 8192),
    "xlarge": (8, 16384),
    "2xlarge": (16, 32768),
    "2xlarge+": (20, 40960),
}
DEFAULT = "medium"


def size_of(resource_class: str) -> tuple[float, int]:
    """CPUs and memory of a class; a class Rondo does not know (a runner class) gets medium's."""
    return SIZES.get(resource_class, SIZES[DEFAULT])


def fitting(cpus: float, memory_mb: int) -> list[str]:
    """The sized classes a machine with this many CPUs and this much memory can run, smallest first."""
    return [name for name, (c, m) in SIZES.items() if c <= cpus and m <= memory_mb]
