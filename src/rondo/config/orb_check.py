"""Checking a packed orb as the registry does before it publishes one (`circleci orb validate|process`).

An orb goes through the config compiler's own stages: YAML 1.1, the bounds, `version: 2.1`, only
orb keys, its imported orbs resolved through the `OrbSource`, and every job that needs no
arguments expanded and built, as the unused jobs of a config are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rondo.config.compiler import build
from rondo.config.orbs import OrbSource
from rondo.config.processor import dump_yaml, process_config
from rondo.config.yaml_source import load


@dataclass(frozen=True)
class CheckedOrb:
    output_yaml: str  # the orb as loaded (anchors and merge keys written out), its imports' resolutions first
    resolved_orbs: tuple[tuple[str, str], ...]  # (as written, resolved to)


def check_orb(
    text: str,
    *,
    filename: str = "orb.yml",
    orb_source: OrbSource | None = None,
    orb_cache: dict[str, Any] | None = None,
) -> CheckedOrb:
    """Check a packed orb; raises ConfigErrors listing every problem found, each with its position."""
    processed = process_config(
        text, filename=filename, orb_source=orb_source, orb_cache=orb_cache, allow_errors=True, as_orb=True
    )
    build(processed, text, filename)
    doc: Mapping[str, Any] = load(text)
    head = "".join(f"# Orb '{written}' resolved to '{resolved}'\n" for written, resolved in processed.orbs)
    return CheckedOrb(head + dump_yaml(dict(doc)), tuple(processed.orbs))
