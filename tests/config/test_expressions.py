"""The `<< >>` expression language against CircleCI-Public/expr's cross-implementation corpus, plus RE2 details."""

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from rondo.config import expressions
from rondo.config.expressions import (
    UNDEFINED,
    ExpressionError,
    Pattern,
    evaluate,
    is_truthy,
    parse,
)

CASES_PATH = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "oracles" / "expr" / "evaluator-cases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_PATH.read_text(encoding="utf-8"))


def _value(raw: Any) -> Any:
    if isinstance(raw, dict) and set(raw) == {"regexp"}:
        return Pattern(raw["regexp"])
    return raw


def _flatten(env: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The corpus's environment as the flat dotted-name mapping the module takes."""
    flat: dict[str, Any] = {}
    for key, raw in env.items():
        if isinstance(raw, dict) and set(raw) != {"regexp"}:
            flat.update(_flatten(raw, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = _value(raw)
    return flat


def _case_id(index: int) -> str:
    return f"{CASES[index]['suite'].replace('/', '.')}-{index:03d}"


def test_corpus_is_complete() -> None:
    assert len(CASES) == 247


@pytest.mark.parametrize("index", range(len(CASES)), ids=_case_id)
def test_corpus_case(index: int) -> None:
    case = CASES[index]
    env = _flatten(case["environment"])
    expected = case["expected"]
    if "result" in expected:
        want = UNDEFINED if expected["result"] is None else _value(expected["result"])
        got = evaluate(case["expression"], env)
        assert type(got) is type(want)  # True is not 1
        assert got == want
    else:
        error = expected["error"]
        with pytest.raises(ExpressionError) as caught:
            evaluate(case["expression"], env)
        assert caught.value.error_type == error["errorType"]
        assert caught.value.lexeme == error["lexeme"]
        assert caught.value.char_pos == error["charPos"]
        assert caught.value.token_type == error.get("tokenType")  # scanner errors have none


@pytest.mark.parametrize(
    ("expression", "env", "expected"),
    [
        (
            "foo >= bar",
            {"foo": 1},
            'Referred to a variable "bar" that does not exist:\nfoo >= bar\n       ^^^',
        ),
        ("2 > 5 && false", {}, "Unexpected character '&':\n2 > 5 && false\n      ^"),
        ('x > "s"', {"x": 1}, 'Expected numeric operands to ">" operator:\nx > "s"\n  ^'),
        ("x == 1\nwrong 2", {}, "Unknown infix function:\nwrong 2\n^^^^^"),
        ("(1", {}, "Expected ')' after expression:\n(1\n  ^"),
        (
            "/" + "x" * 129 + "/",
            {},
            "Pattern length exceeded, limit is 128 characters:\n/" + "x" * 129 + "/\n^",
        ),
    ],
)
def test_describe_points_at_the_error(expression: str, env: dict[str, Any], expected: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(expression, env)
    assert caught.value.describe(expression) == expected
    assert str(caught.value) == expected.split(":\n", 1)[0]


def test_errors_survive_pickling_and_cached_parse_errors_are_fresh() -> None:
    with pytest.raises(ExpressionError) as first:
        parse("foo ==")
    with pytest.raises(ExpressionError) as second:
        parse("foo ==")
    assert first.value is not second.value
    clone = pickle.loads(pickle.dumps(second.value))
    assert (clone.error_type, clone.lexeme, clone.char_pos, clone.token_type, str(clone)) == (
        "Parser/EXPECTED_EXPRESSION",
        "",
        6,
        "EOF",
        "Expected expression, found end of expression",
    )


def test_variables_lists_every_identifier() -> None:
    expression = parse('pipeline.git.branch == "main" or (not pipeline.parameters.run-it? and x matches /a/)')
    assert expression.variables() == frozenset({"pipeline.git.branch", "pipeline.parameters.run-it?", "x"})
    assert parse('"only" == "literals"').variables() == frozenset()


def test_expressions_evaluate_against_flat_dotted_environments() -> None:
    env = {"pipeline.git.branch": "main", "pipeline.parameters.x": 3, "pipeline.git.tag": None}
    assert evaluate('pipeline.git.branch == "main" and pipeline.parameters.x > 2', env) is True
    assert evaluate("pipeline.git.tag or pipeline.git.branch", env) == "main"
    assert evaluate("pipeline.git.tag", env) is UNDEFINED
    with pytest.raises(ExpressionError) as caught:
        evaluate("pipeline.foo", env)
    assert caught.value.error_type == "Interpreter/UNKNOWN_VARIABLE"
    assert str(caught.value) == 'Referred to a variable "pipeline.foo" that does not exist'


def test_cached_evaluate_matches_a_fresh_parse() -> None:
    source = 'branch starts-with "release/" and not (number < 5)'
    envs: list[dict[str, Any]] = [
        {"branch": "release/1", "number": 9},
        {"branch": "release/1", "number": 1},
        {"branch": "main", "number": 9},
        {"branch": None, "number": 9},
    ]
    results = [evaluate(source, env) for env in envs]
    assert results == [True, False, False, UNDEFINED]
    assert [evaluate(source, env) for env in envs] == results
    assert parse(source) is parse(source)
    assert [expressions._parse_uncached(source).evaluate(env) for env in envs] == results


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (True, True),
        (False, False),
        (UNDEFINED, False),
        (None, False),
        ("", True),
        ("false", True),
        (0, True),
        (-1, True),
        (Pattern(""), True),
    ],
)
def test_is_truthy(value: Any, truthy: bool) -> None:
    assert is_truthy(value) is truthy


def test_undefined_is_a_falsy_singleton() -> None:
    assert not UNDEFINED
    assert repr(UNDEFINED) == "undefined"
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED


def test_environment_values_are_typed_strictly() -> None:
    assert evaluate("x == 1", {"x": True}) is False
    assert evaluate("x == true", {"x": 1}) is False
    assert evaluate("x == 2", {"x": 2.0}) is True  # a whole-number float is an integer
    with pytest.raises(ExpressionError):
        evaluate("x > 1", {"x": True})


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("abc$", "abc\n", False),  # RE2's $ is the end of text, not "before a final newline"
        ("abc$\n", "abc\n", False),
        ("(?m)abc$\n", "abc\n", True),
        ("a{,5}", "a{,5}", True),  # not a repetition in RE2
        ("a{01}", "a{01}", True),
        ("a{2}", "aa", True),
        ("\\d+", "123", True),
        ("\\d", "\u0663", False),  # RE2's \d, \s, \w are ASCII
        ("\\w+", "h\u00e9llo", False),
        ("\\s", "\v", False),
        ("[[:alpha:]]+", "abc", True),
        ("[[:^alpha:]]", "1", True),
        ("[^a]", "\n", True),
        ("[]a]+", "]a", True),
        ("(?i)hello", "HeLLo", True),
        ("a(?i)b|c", "C", True),  # the flag runs to the end of the group, across |
        ("(?i:a)b", "AB", False),
        ("(?i)[^a]", "A", False),
        ("(?s:a.)", "a\n", True),
        ("a.", "a\n", False),
        ("\\Qa.b\\E", "a.b", True),
        ("\\Qa.b\\E", "axb", False),
        ("\\pL+", "h\u00e9llo", True),
        ("\\PL", "1", True),
        ("(?P<n>a)(?<m>b)", "ab", True),
        ("\\12", "\n", True),  # octal
        ("x\\b*", "x", True),
        ("^*a", "a", True),
        ("hello", "hello world", False),  # full match only
    ],
)
def test_patterns_follow_re2(pattern: str, text: str, matches: bool) -> None:
    assert Pattern(pattern).matches(text) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        "(?=a)a",
        "(?!a)b",
        "(?<=a)b",
        "(?>a)",
        "(?#comment)",
        "(a)\\1",
        "\\8",
        "\\e",
        "\\C",
        "a**",
        "a*??",
        "a++",
        "*a",
        "a|*",
        "a{1001}",
        "a{2,1}",
        "(a{100}){100}",
        "x{2}{3}",
        "[]",
        "[z-a]",
        "[[:foo:]]",
        "(a",
        "a)",
        "(?-)a",
        "(?P=n)",
        "\\p{Greek}",  # Unicode scripts: no data for them in Python's unicodedata
    ],
)
def test_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        Pattern(pattern)
    with pytest.raises(ExpressionError) as caught:
        parse(f"/{pattern.replace('/', chr(92) + '/')}/")
    assert caught.value.error_type == "Scanner/INVALID_PATTERN"
    assert caught.value.char_pos == 0


def test_pattern_values() -> None:
    assert Pattern("a+") == Pattern("a+")
    assert hash(Pattern("a+")) == hash(Pattern("a+"))
    assert evaluate("/a\\/b/", {}) == Pattern("a/b")
    assert evaluate("/a/ == p", {"p": Pattern("a")}) is True
    assert evaluate('"a/b" matches /a\\/b/', {}) is True
    with pytest.raises(ValueError):
        Pattern("a\\")  # a trailing backslash; inside /…/ it would escape the closing slash instead


@pytest.mark.parametrize(
    ("expression", "error_type"),
    [
        ("(" * 100 + "1" + ")" * 100, "Parser/TOO_DEEPLY_NESTED"),
        ("not " * 100 + "x", "Parser/TOO_DEEPLY_NESTED"),
        (" == ".join(["1"] * 300), "Parser/TOO_DEEPLY_NESTED"),
        ("9" * 5000, "Scanner/INVALID_NUMERIC_LITERAL"),
        ("=", "Scanner/INCOMPLETE_EQUALS"),
    ],
)
def test_pathological_input_is_an_expression_error(expression: str, error_type: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(expression, {"x": True})
    assert caught.value.error_type == error_type


def test_long_logical_chains_evaluate_without_deep_recursion() -> None:
    assert evaluate(" or ".join(["x"] * 2000 + ["y"]), {"x": False, "y": 5}) == 5
    assert evaluate(" and ".join(["x"] * 2000), {"x": "v"}) == "v"
