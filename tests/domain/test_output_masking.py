"""Secret values disappear from output streams however the stream is cut into pieces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rondo.domain.output_masking import MASK, OutputMasker, mask_text


def stream(pieces: list[str], secrets: list[str]) -> str:
    masker = OutputMasker(secrets)
    return "".join(masker.feed(p) for p in pieces) + masker.finish()


def test_values_of_four_characters_or_more_are_masked() -> None:
    assert mask_text("token=abcd1234 and abc", ["abcd1234", "abc"]) == f"token={MASK} and abc"
    assert mask_text("nothing to hide", []) == "nothing to hide"


def test_a_secret_split_across_two_chunks_is_masked() -> None:
    assert stream(["the key is s3cr", "et-value, done\n"], ["s3cret-value"]) == f"the key is {MASK}, done\n"


def test_held_back_text_that_was_not_a_secret_comes_out_whole() -> None:
    masker = OutputMasker(["s3cret-value"])
    assert masker.feed("almost s3cr") == "almost "
    assert masker.feed("ew") == "s3crew"
    assert masker.feed("s3c") == ""
    assert masker.finish() == "s3c"


def test_a_secret_that_starts_a_longer_secret_waits_for_the_next_piece() -> None:
    secrets = ["abcd", "abcdefgh"]
    assert stream(["x abcd", "efgh y"], secrets) == f"x {MASK} y"
    assert stream(["x abcd", " y"], secrets) == f"x {MASK} y"


@given(
    secret=st.text(alphabet="ab$c\n", min_size=4, max_size=12),
    before=st.text(alphabet="ab$c\n ", max_size=20),
    after=st.text(alphabet="ab$c\n ", max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6),
)
def test_no_cut_of_the_stream_lets_a_secret_through(secret: str, before: str, after: str, cuts: list[int]) -> None:
    text = before + secret + after
    points = sorted({c for c in cuts if c <= len(text)})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    out = stream(pieces, [secret])
    assert secret not in out
    assert out == mask_text(text, [secret])
