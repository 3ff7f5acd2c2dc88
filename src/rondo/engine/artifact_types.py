"""How an artifact download is served: CircleCI's safe types inline, unsafe ones as plain text.

HTML, CSS, JavaScript and XML could run script in the server's origin, so unless the administrator
turns on "Serve unsafe artifacts" they are served as text/plain (the local store adds nosniff).
"""

from __future__ import annotations

import mimetypes

SAFE = {
    "text/plain",
    "application/json",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "video/webm",
    "audio/ogg",
    "video/ogg",
    "application/ogg",
    "video/mp4",
    "audio/mp4",
    "audio/aac",
    "audio/mpeg",
    "video/mpeg",
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
}
UNSAFE_WORDS = ("html", "css", "javascript", "ecmascript", "xml")
_ENCODINGS = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}
_EXTRA = {".log": "text/plain", ".md": "text/plain", ".out": "text/plain", ".aac": "audio/aac"}


def guess_type(path: str) -> str:
    """The content type an artifact is stored with, from its name."""
    lowered = path.lower()
    for suffix, kind in _EXTRA.items():
        if lowered.endswith(suffix):
            return kind
    guessed, encoding = mimetypes.guess_type(path, strict=False)
    if encoding:  # a compressed file (x.tar.gz) is downloaded as what it is: compressed
        return _ENCODINGS.get(encoding, "application/octet-stream")
    return guessed or "application/octet-stream"


def served_as(content_type: str, serve_unsafe: bool) -> tuple[str, str]:
    """(Content-Type, Content-Disposition) for a download of an artifact stored as `content_type`."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base in SAFE:
        return (f"{base}; charset=utf-8" if base.startswith("text/") else base), "inline"
    if any(word in base for word in UNSAFE_WORDS):
        if serve_unsafe:
            return content_type, "inline"
        return "text/plain; charset=utf-8", "inline"
    return content_type, "attachment"
