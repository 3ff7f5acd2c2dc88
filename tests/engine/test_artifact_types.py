"""Artifact downloads follow CircleCI's content-type rules (the seeds' Artifacts page)."""

from __future__ import annotations

import pytest

from rondo.engine.artifact_types import guess_type, served_as


@pytest.mark.parametrize(
    ("path", "stored", "served"),
    [
        ("log.txt", "text/plain", ("text/plain; charset=utf-8", "inline")),
        ("build.log", "text/plain", ("text/plain; charset=utf-8", "inline")),
        ("r.json", "application/json", ("application/json", "inline")),
        ("shot.png", "image/png", ("image/png", "inline")),
        ("clip.mp4", "video/mp4", ("video/mp4", "inline")),
        ("index.html", "text/html", ("text/plain; charset=utf-8", "inline")),
        ("style.css", "text/css", ("text/plain; charset=utf-8", "inline")),
        ("app.js", "text/javascript", ("text/plain; charset=utf-8", "inline")),
        ("junit.xml", "application/xml", ("text/plain; charset=utf-8", "inline")),
        ("dist.tar.gz", "application/gzip", ("application/gzip", "attachment")),
        ("blob", "application/octet-stream", ("application/octet-stream", "attachment")),
    ],
)
def test_safe_types_inline_unsafe_as_text_others_downloaded(path: str, stored: str, served: tuple[str, str]) -> None:
    assert guess_type(path) == stored
    assert served_as(stored, serve_unsafe=False) == served


def test_the_admin_may_serve_unsafe_types_as_they_are() -> None:
    assert served_as("text/html", serve_unsafe=True) == ("text/html", "inline")
