"""How a secret value is shown wherever Rondo shows one: `xxxx` and its last four characters.

A value of four characters or fewer shows as `xxxx` alone, so a short value is never shown whole.
(In job output the agent replaces values of four characters or more with `********`;
see `rondo.domain.output_masking`.)
"""

from __future__ import annotations

MASK_PREFIX = "xxxx"


def masked(value: str) -> str:
    return MASK_PREFIX + (value[-4:] if len(value) > 4 else "")
