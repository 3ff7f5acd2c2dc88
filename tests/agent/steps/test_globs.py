"""persist_to_workspace globs follow Go's filepath.Match, one path segment at a time."""

from __future__ import annotations

import pytest

from rondo.agent.steps.globs import has_magic, match


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", ".hidden", True),  # unlike a shell, Go's `*` matches a leading dot
        ("*.js", "app.js", True),
        ("*.js", "app.jsx", False),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("[ab]*", "beta", True),
        ("[^ab]*", "beta", False),
        ("[a-c]x", "cx", True),
        ("\\*", "*", True),
        ("\\*", "x", False),
        ("a.b", "axb", False),
    ],
)
def test_go_glob_segments(pattern: str, name: str, matches: bool) -> None:
    assert match(pattern, name) is matches


def test_magic_and_bad_patterns() -> None:
    assert has_magic("*.js") and has_magic("a[0]") and not has_magic("dist")
    with pytest.raises(ValueError, match="never closed"):
        match("[abc", "a")
