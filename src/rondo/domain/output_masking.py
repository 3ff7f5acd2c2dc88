"""Hiding secret values in job output before it leaves the agent, even when a value is split across chunks.

Values of four characters or more are replaced by `********` (shorter ones would mask ordinary text).
Output arrives in arbitrary pieces, so the tail of each piece that could be the start of a secret is held
back until the next piece (or the end of the step) shows whether it is one.
"""

from __future__ import annotations

import re

MIN_MASKED_LENGTH = 4
MASK = "********"


def maskable(values: list[str]) -> list[str]:
    """The distinct values worth masking, longest first (so a secret inside another is not half-masked)."""
    return sorted({v for v in values if len(v) >= MIN_MASKED_LENGTH}, key=lambda v: (-len(v), v))


class OutputMasker:
    """Masks one stream of text (one step's output). `feed` returns what may be sent now; `finish` the rest."""

    def __init__(self, secrets: list[str]) -> None:
        self._secrets = maskable(secrets)
        self._pattern = re.compile("|".join(re.escape(s) for s in self._secrets)) if self._secrets else None
        self._held = ""

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def feed(self, text: str) -> str:
        if self._pattern is None:
            return text
        buffer = self._held + text
        out: list[str] = []
        pos = 0
        for match in self._pattern.finditer(buffer):
            found = match.group()
            if match.end() == len(buffer) and any(len(s) > len(found) and s.startswith(found) for s in self._secrets):
                # It may be the start of a longer secret: wait for the next piece to tell.
                break
            out += [buffer[pos : match.start()], MASK]
            pos = match.end()
        rest = buffer[pos:]
        keep = self._partial_tail(rest)
        out.append(rest[: len(rest) - keep])
        self._held = rest[len(rest) - keep :] if keep else ""
        return "".join(out)

    def finish(self) -> str:
        """The held-back end of the stream, masked: the stream is over, so it is whatever it is."""
        held, self._held = self._held, ""
        return self._pattern.sub(MASK, held) if self._pattern is not None else held

    def _partial_tail(self, text: str) -> int:
        """The length of the longest end of `text` that is the start (not the whole) of a secret."""
        longest = 0
        for secret in self._secrets:
            window = min(len(secret) - 1, len(text))
            if window <= longest:
                continue
            start = len(text) - window
            first = secret[0]
            pos = text.find(first, start)
            while pos != -1:
                tail = len(text) - pos
                if tail <= longest:
                    break
                if secret.startswith(text[pos:]):
                    longest = tail
                    break
                pos = text.find(first, pos + 1)
        return longest


def mask_text(text: str, secrets: list[str]) -> str:
    """Mask a whole text at once (a message that is not streamed)."""
    masker = OutputMasker(secrets)
    return masker.feed(text) + masker.finish()
