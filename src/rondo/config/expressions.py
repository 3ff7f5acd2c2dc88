"""CircleCI's `<< >>` expression language (CircleCI-Public/expr): scanner, parser, evaluator, RE2 patterns."""

from __future__ import annotations

import enum
import functools
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "UNDEFINED",
    "Expression",
    "ExpressionError",
    "Pattern",
    "UndefinedType",
    "evaluate",
    "is_truthy",
    "parse",
]


class UndefinedType(enum.Enum):
    """The type of UNDEFINED: the value of a variable that exists but has no value."""

    UNDEFINED = "undefined"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"

    def __str__(self) -> str:
        return "undefined"


UNDEFINED: Final = UndefinedType.UNDEFINED


# --- errors -----------------------------------------------------------------------------------------------------

UNEXPECTED_CHARACTER: Final = "Scanner/UNEXPECTED_CHARACTER"
INCOMPLETE_EQUALS: Final = "Scanner/INCOMPLETE_EQUALS"
INVALID_NUMERIC_LITERAL: Final = "Scanner/INVALID_NUMERIC_LITERAL"
UNTERMINATED_STRING: Final = "Scanner/UNTERMINATED_STRING"
UNTERMINATED_PATTERN: Final = "Scanner/UNTERMINATED_PATTERN"
INVALID_PATTERN_CHARACTER: Final = "Scanner/INVALID_PATTERN_CHARACTER"
INVALID_PATTERN: Final = "Scanner/INVALID_PATTERN"
PATTERN_TOO_LONG: Final = "Scanner/PATTERN_TOO_LONG"
EXPECTED_EXPRESSION: Final = "Parser/EXPECTED_EXPRESSION"
UNEXPECTED_ADDITIONAL_INPUT: Final = "Parser/UNEXPECTED_ADDITIONAL_INPUT"
EXPECTED_RIGHT_PAREN: Final = "Parser/EXPECTED_RIGHT_PAREN"
UNKNOWN_BUILTIN_FUNCTION: Final = "Parser/UNKNOWN_BUILTIN_FUNCTION"
# Not in upstream (the JVM version turns a stack overflow into "too deeply nested"); ours is explicit.
TOO_DEEPLY_NESTED: Final = "Parser/TOO_DEEPLY_NESTED"
EXPECTED_NUMERIC_OPERAND: Final = "Interpreter/EXPECTED_NUMERIC_OPERAND"
EXPECTED_STRING_OPERAND: Final = "Interpreter/EXPECTED_STRING_OPERAND"
EXPECTED_PATTERN_OPERAND: Final = "Interpreter/EXPECTED_PATTERN_OPERAND"
UNKNOWN_VARIABLE: Final = "Interpreter/UNKNOWN_VARIABLE"

MAX_PATTERN_LENGTH: Final = 128
_MAX_INT64: Final = 2**63 - 1
_MAX_NESTING: Final = 64  # parentheses and `not`s; each paren level costs the parser ~6 Python frames
_MAX_DEPTH: Final = 200  # AST depth, bounds the evaluator's recursion


class ExpressionError(Exception):
    """A scan, parse or evaluation error, located at `char_pos` (code points) in the expression."""

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        lexeme: str,
        char_pos: int,
        token_type: str | None = None,
        width: int = 1,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.lexeme = lexeme
        self.char_pos = char_pos
        self.token_type = token_type
        self.width = width

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments would otherwise break pickling (e.g. across worker processes).
        return (
            _rebuild_error,
            (self.error_type, self.message, self.lexeme, self.char_pos, self.token_type, self.width),
        )

    def copy(self) -> ExpressionError:
        """A fresh instance with the same fields (re-raising one instance would grow its traceback)."""
        clone = _rebuild_error(self.error_type, self.message, self.lexeme, self.char_pos, self.token_type, self.width)
        clone.__cause__ = self.__cause__
        return clone

    def describe(self, expression: str) -> str:
        """The message, then the expression's line holding the error, then carets under the offending part."""
        pos = min(max(self.char_pos, 0), len(expression))
        line_start = expression.rfind("\n", 0, pos) + 1
        line_end = expression.find("\n", pos)
        if line_end < 0:
            line_end = len(expression)
        marker = " " * (pos - line_start) + "^" * max(self.width, 1)
        return f"{self.message}:\n{expression[line_start:line_end]}\n{marker}"


def _rebuild_error(
    error_type: str, message: str, lexeme: str, char_pos: int, token_type: str | None, width: int
) -> ExpressionError:
    return ExpressionError(error_type, message, lexeme=lexeme, char_pos=char_pos, token_type=token_type, width=width)


def _quote_char(c: str) -> str:
    # Go's %q on a rune, as upstream prints it: '&', '\'', '\x00'.
    if c in ("'", "\\"):
        return f"'\\{c}'"
    if c.isprintable():
        return f"'{c}'"
    special = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    if c in special:
        return f"'{special[c]}'"
    cp = ord(c)
    if cp < 0x80:
        return f"'\\x{cp:02x}'"
    return f"'\\u{cp:04x}'" if cp < 0x10000 else f"'\\U{cp:08x}'"


def _scan_error(error_type: str, char: str, pos: int) -> ExpressionError:
    if error_type == UNEXPECTED_CHARACTER:
        message = f"Unexpected character {_quote_char(char)}"
    elif error_type == INCOMPLETE_EQUALS:
        found = _quote_char(char) if char else "end of expression"
        message = f'Incomplete token, expected "==", found {found}'
    elif error_type == INVALID_NUMERIC_LITERAL:
        message = "Invalid numeric literal, numbers can range from 0 to 2^63 - 1"
    elif error_type == UNTERMINATED_STRING:
        message = "Unterminated string starting here"
    elif error_type == UNTERMINATED_PATTERN:
        message = "Unterminated pattern starting here"
    elif error_type == INVALID_PATTERN_CHARACTER:
        message = "Invalid pattern character, only ASCII and Latin-1 are allowed in patterns"
    elif error_type == INVALID_PATTERN:
        message = "Syntax error in pattern"
    else:
        message = f"Pattern length exceeded, limit is {MAX_PATTERN_LENGTH} characters"
    return ExpressionError(error_type, message, lexeme=char, char_pos=pos)


def _token_error(error_type: str, token: _Token) -> ExpressionError:
    lexeme = token.lexeme
    shown = f'"{lexeme}"' if token.type != "EOF" else "end of expression"
    width = len(lexeme)
    if error_type == EXPECTED_EXPRESSION:
        message = f"Expected expression, found {shown}"
    elif error_type == UNEXPECTED_ADDITIONAL_INPUT:
        message = f"Unexpected additional input, found {shown}, expected EOF"
    elif error_type == EXPECTED_RIGHT_PAREN:
        message, width = "Expected ')' after expression", 1
    elif error_type == UNKNOWN_BUILTIN_FUNCTION:
        message = "Unknown infix function"
    elif error_type == TOO_DEEPLY_NESTED:
        message = "Expression is too deeply nested"
    elif error_type == EXPECTED_NUMERIC_OPERAND:
        message = f'Expected numeric operands to "{lexeme}" operator'
    elif error_type == EXPECTED_STRING_OPERAND:
        message = f'Expected string operands to "{lexeme}" operator'
    elif error_type == EXPECTED_PATTERN_OPERAND:
        message = f'Expected the right operand to "{lexeme}" operator to be a pattern'
    else:
        message = f'Referred to a variable "{lexeme}" that does not exist'
    return ExpressionError(error_type, message, lexeme=lexeme, char_pos=token.pos, token_type=token.type, width=width)


# --- patterns: RE2 syntax, checked and translated to Python `re` --------------------------------------------------


class _PatternSyntaxError(ValueError):
    """The pattern is not valid RE2 syntax (or uses a part of it we cannot translate)."""


_FOLD: Final = 1
_MULTILINE: Final = 2
_DOTALL: Final = 4
_UNGREEDY: Final = 8
_FLAG_BITS: Final = {"i": _FOLD, "m": _MULTILINE, "s": _DOTALL, "U": _UNGREEDY}
_MAX_CODEPOINT: Final = 0x10FFFF
_RE_MAX_REPEAT: Final = 1000
_RE_MAX_NESTING: Final = 200

_Ranges = tuple[tuple[int, int], ...]

# RE2's Perl and POSIX classes are ASCII-only, unlike Python's \d \s \w.
_DIGIT: Final[_Ranges] = ((0x30, 0x39),)
_SPACE: Final[_Ranges] = ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20))
_WORD: Final[_Ranges] = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_PERL_CLASSES: Final[dict[str, _Ranges]] = {"d": _DIGIT, "s": _SPACE, "w": _WORD}
_POSIX_CLASSES: Final[dict[str, _Ranges]] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": _DIGIT,
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": _WORD,
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
_UNICODE_CATEGORIES: Final = frozenset(
    {"C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl", "No"}
    | {"P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs"}
)
_C_ESCAPES: Final = {"a": 0x07, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_HEX: Final = "0123456789abcdefABCDEF"


@functools.cache
def _unicode_ranges(name: str) -> _Ranges | None:
    # Go's \p tables are Any, general categories and scripts; Python has no script data, so scripts are refused.
    if name == "Any":
        return ((0, _MAX_CODEPOINT),)
    if name not in _UNICODE_CATEGORIES:
        return None
    wanted = {c for c in _UNICODE_CATEGORIES if len(c) == 2 and c[0] == name} if len(name) == 1 else {name}
    ranges: list[tuple[int, int]] = []
    start = -1
    category = unicodedata.category
    for cp in range(_MAX_CODEPOINT + 1):
        if category(chr(cp)) in wanted:
            if start < 0:
                start = cp
        elif start >= 0:
            ranges.append((start, cp - 1))
            start = -1
    if start >= 0:
        ranges.append((start, _MAX_CODEPOINT))
    return tuple(ranges)


def _merge(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _complement(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    gaps: list[tuple[int, int]] = []
    next_lo = 0
    for lo, hi in _merge(ranges):
        if lo > next_lo:
            gaps.append((next_lo, lo - 1))
        next_lo = hi + 1
    if next_lo <= _MAX_CODEPOINT:
        gaps.append((next_lo, _MAX_CODEPOINT))
    return gaps


def _char_escape(cp: int) -> str:
    # Every non-alphanumeric as a numeric escape: one unambiguous atom, in or out of a class.
    if cp < 0x80 and chr(cp).isalnum():
        return chr(cp)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


class _Re:
    """A node of a parsed RE2 pattern; `emit` gives one Python regex atom (or a sequence, for groups' insides)."""

    __slots__ = ()

    def emit(self) -> str:
        raise NotImplementedError

    def children(self) -> Sequence[_Re]:
        return ()


class _ReAtom(_Re):
    __slots__ = ("empty_width", "text")

    def __init__(self, text: str, empty_width: bool = False) -> None:
        self.text = text
        self.empty_width = empty_width

    def emit(self) -> str:
        return self.text


class _ReGroup(_Re):
    __slots__ = ("branches",)

    def __init__(self, branches: list[list[_Re]]) -> None:
        self.branches = branches

    def emit(self) -> str:
        return "(?:" + _emit_branches(self.branches) + ")"

    def children(self) -> Sequence[_Re]:
        return [node for branch in self.branches for node in branch]


class _ReRepeat(_Re):
    __slots__ = ("counted", "greedy", "high", "low", "sub", "symbol")

    def __init__(self, sub: _Re, symbol: str, low: int, high: int, greedy: bool, counted: bool) -> None:
        self.sub = sub
        self.symbol = symbol
        self.low = low
        self.high = high
        self.greedy = greedy
        self.counted = counted

    def emit(self) -> str:
        sub = self.sub
        text = sub.emit()
        if isinstance(sub, _ReRepeat) or (isinstance(sub, _ReAtom) and sub.empty_width):
            text = f"(?:{text})"  # Python refuses to repeat anchors and repeats directly
        if not self.counted:
            quantifier = self.symbol
        elif self.high < 0:
            quantifier = f"{{{self.low},}}"
        elif self.low == self.high:
            quantifier = f"{{{self.low}}}"
        else:
            quantifier = f"{{{self.low},{self.high}}}"
        return text + quantifier + ("" if self.greedy else "?")

    def children(self) -> Sequence[_Re]:
        return (self.sub,)


def _emit_branches(branches: list[list[_Re]]) -> str:
    return "|".join("".join(node.emit() for node in branch) for branch in branches)


def _repeat_is_valid(node: _Re, n: int) -> bool:
    # RE2 caps the product of nested counted repetitions at 1000 (Go regexp/syntax repeatIsValid).
    if isinstance(node, _ReRepeat) and node.counted:
        m = node.high
        if m == 0:
            return True
        if m < 0:
            m = node.low
        if m > n:
            return False
        if m > 0:
            n //= m
    return all(_repeat_is_valid(child, n) for child in node.children())


def _literal(cp: int, flags: int) -> _ReAtom:
    text = _char_escape(cp)
    c = chr(cp)
    if flags & _FOLD and (c.lower() != c or c.upper() != c):
        text = f"(?i:{text})"
    return _ReAtom(text)


def _class_atom(ranges: Sequence[tuple[int, int]], negated: bool, flags: int) -> _ReAtom:
    merged = _merge(ranges)
    if not merged:
        return _ReAtom("(?s:.)" if negated else "(?!)")
    body = "".join(_char_escape(lo) if lo == hi else f"{_char_escape(lo)}-{_char_escape(hi)}" for lo, hi in merged)
    text = f"[^{body}]" if negated else f"[{body}]"
    if flags & _FOLD:
        text = f"(?i:{text})"
    return _ReAtom(text)


class _Re2Parser:
    """Go regexp/syntax's parser (Perl flags) reduced to validation plus translation."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0

    def fail(self, reason: str) -> _PatternSyntaxError:
        return _PatternSyntaxError(f"{reason} at offset {self.pos}")

    def translate(self) -> str:
        branches = self.branches(0, 0)
        if self.pos < len(self.src):
            raise self.fail("unexpected )")
        return _emit_branches(branches)

    def branches(self, flags: int, depth: int) -> list[list[_Re]]:
        if depth > _RE_MAX_NESTING:
            raise self.fail("expression nests too deeply")
        src, n = self.src, len(self.src)
        current: list[_Re] = []
        result = [current]
        last_repeat = False
        while self.pos < n:
            c = src[self.pos]
            repeat = False
            if c == ")":
                break
            if c == "|":
                self.pos += 1
                current = []
                result.append(current)
            elif c == "(":
                if src.startswith("(?", self.pos):
                    flags, group = self.perl_group(flags, depth)
                    if group is not None:
                        current.append(group)
                else:
                    self.pos += 1
                    current.append(self.group(flags, depth))
            elif c in "*+?":
                self.pos += 1
                self.repeat(current, c, 0, 0, False, flags, last_repeat)
                repeat = True
            elif c == "{":
                counted = self.counted_repeat()
                if counted is None:
                    self.pos += 1  # not a well-formed {n,m}: a literal brace
                    current.append(_literal(ord("{"), flags))
                else:
                    low, high, end = counted
                    if low < 0 or low > _RE_MAX_REPEAT or high > _RE_MAX_REPEAT or (0 <= high < low):
                        raise self.fail("invalid repeat count")
                    self.pos = end
                    self.repeat(current, "", low, high, True, flags, last_repeat)
                    repeat = True
            elif c == "^":
                self.pos += 1
                current.append(_ReAtom("(?m:^)" if flags & _MULTILINE else "\\A", empty_width=True))
            elif c == "$":
                self.pos += 1
                # Without (?m), RE2's $ is the very end; Python's $ would also match before a final newline.
                current.append(_ReAtom("(?m:$)" if flags & _MULTILINE else "\\Z", empty_width=True))
            elif c == ".":
                self.pos += 1
                current.append(_ReAtom("(?s:.)" if flags & _DOTALL else "[^\\n]"))
            elif c == "[":
                current.append(self.char_class(flags))
            elif c == "\\":
                self.escape_atom(current, flags)
            else:
                self.pos += 1
                current.append(_literal(ord(c), flags))
            last_repeat = repeat
        return result

    def group(self, flags: int, depth: int) -> _ReGroup:
        branches = self.branches(flags, depth + 1)
        if self.pos >= len(self.src):
            raise self.fail("missing closing )")
        self.pos += 1
        return _ReGroup(branches)

    def perl_group(self, flags: int, depth: int) -> tuple[int, _ReGroup | None]:
        src, n, start = self.src, len(self.src), self.pos
        rest = n - start
        if (rest > 4 and src[start + 2] == "P" and src[start + 3] == "<") or (rest > 3 and src[start + 2] == "<"):
            begin = start + (4 if src[start + 2] == "P" else 3)
            end = src.find(">", start)
            if end < 0:
                raise self.fail("invalid named capture")
            name = src[begin:end]
            if not name or not all(ch == "_" or (ch < "\x80" and ch.isalnum()) for ch in name):
                raise self.fail("invalid named capture")
            self.pos = end + 1
            return flags, self.group(flags, depth)  # names don't matter for a yes/no full match
        i = start + 2
        new_flags, negate, saw_flag = flags, False, False
        while i < n:
            c = src[i]
            i += 1
            if c in _FLAG_BITS:
                new_flags = new_flags & ~_FLAG_BITS[c] if negate else new_flags | _FLAG_BITS[c]
                saw_flag = True
            elif c == "-" and not negate:
                negate, saw_flag = True, False
            elif c in ":)":
                if negate and not saw_flag:
                    break
                self.pos = i
                if c == ")":
                    return new_flags, None  # flags apply to the rest of the enclosing group
                return flags, self.group(new_flags, depth)
            else:
                break
        raise self.fail("invalid or unsupported Perl syntax")

    def repeat(
        self, current: list[_Re], symbol: str, low: int, high: int, counted: bool, flags: int, last_repeat: bool
    ) -> None:
        greedy = not flags & _UNGREEDY
        if self.pos < len(self.src) and self.src[self.pos] == "?":
            self.pos += 1
            greedy = not greedy
        if last_repeat:
            raise self.fail("invalid nested repetition operator")
        if not current:
            raise self.fail("missing argument to repetition operator")
        node = _ReRepeat(current[-1], symbol, low, high, greedy, counted)
        if counted and (low >= 2 or high >= 2) and not _repeat_is_valid(node, _RE_MAX_REPEAT):
            raise self.fail("invalid repeat count")
        current[-1] = node

    def counted_repeat(self) -> tuple[int, int, int] | None:
        src, n = self.src, len(self.src)
        parsed = self.integer(self.pos + 1)
        if parsed is None:
            return None
        low, i = parsed
        if i >= n:
            return None
        if src[i] != ",":
            high = low
        else:
            i += 1
            if i >= n:
                return None
            if src[i] == "}":
                high = -1
            else:
                parsed = self.integer(i)
                if parsed is None:
                    return None
                high, i = parsed
                if high < 0:
                    low = -1  # too big
        if i >= n or src[i] != "}":
            return None
        return low, high, i + 1

    def integer(self, i: int) -> tuple[int, int] | None:
        src, n = self.src, len(self.src)
        if i >= n or not "0" <= src[i] <= "9":
            return None
        if src[i] == "0" and i + 1 < n and "0" <= src[i + 1] <= "9":
            return None  # RE2 refuses leading zeros, so `{01}` is literal text
        value = 0
        while i < n and "0" <= src[i] <= "9":
            if value >= 100_000_000:
                value = -1
            elif value >= 0:
                value = value * 10 + ord(src[i]) - 0x30
            i += 1
        return value, i

    def escape_atom(self, current: list[_Re], flags: int) -> None:
        src, n, start = self.src, len(self.src), self.pos
        if start + 1 < n:
            c = src[start + 1]
            anchor = {"A": "\\A", "z": "\\Z", "b": "(?a:\\b)", "B": "(?a:\\B)"}.get(c)
            if anchor is not None:
                self.pos += 2
                current.append(_ReAtom(anchor, empty_width=True))
                return
            if c == "C":
                raise self.fail("invalid escape sequence \\C")
            if c == "Q":
                end = src.find("\\E", start + 2)
                text = src[start + 2 : end] if end >= 0 else src[start + 2 :]
                self.pos = end + 2 if end >= 0 else n
                current.extend(_literal(ord(ch), flags) for ch in text)
                return
        klass = self.class_escape()
        if klass is not None:
            ranges, negated = klass
            current.append(_class_atom(ranges, negated, flags))
            return
        current.append(_literal(self.escape(), flags))

    def class_escape(self) -> tuple[_Ranges, bool] | None:
        """A \\d \\s \\w (or negation) or \\p{..} \\P{..} at pos, consumed; None when it is something else."""
        src, n, start = self.src, len(self.src), self.pos
        if start + 1 >= n or src[start] != "\\":
            return None
        c = src[start + 1]
        if c.lower() in _PERL_CLASSES:
            self.pos += 2
            return _PERL_CLASSES[c.lower()], c.isupper()
        if c not in "pP":
            return None
        negated = c == "P"
        if start + 2 >= n:
            raise self.fail("invalid character class range")
        if src[start + 2] != "{":
            name, end = src[start + 2], start + 3
        else:
            close = src.find("}", start)
            if close < 0:
                raise self.fail("invalid character class range")
            name, end = src[start + 3 : close], close + 1
        if name.startswith("^"):
            negated, name = not negated, name[1:]
        ranges = _unicode_ranges(name)
        if ranges is None:
            raise self.fail(f"invalid or unsupported Unicode class \\p{{{name}}}")
        self.pos = end
        return ranges, negated

    def escape(self) -> int:
        """An ordinary single-character escape at pos (Go's parseEscape), consumed."""
        src, n = self.src, len(self.src)
        i = self.pos + 1
        if i >= n:
            raise self.fail("trailing backslash at end of expression")
        c = src[i]
        i += 1
        if "1" <= c <= "7" and not (i < n and "0" <= src[i] <= "7"):
            raise self.fail(f"invalid escape sequence \\{c} (backreferences are not supported)")
        if "0" <= c <= "7":
            value = ord(c) - 0x30
            for _ in range(2):
                if i < n and "0" <= src[i] <= "7":
                    value = value * 8 + ord(src[i]) - 0x30
                    i += 1
            self.pos = i
            return value
        if c == "x":
            value, i = self.hex_escape(i)
            self.pos = i
            return value
        if c in _C_ESCAPES:
            self.pos = i
            return _C_ESCAPES[c]
        if c < "\x80" and not c.isalnum():
            self.pos = i
            return ord(c)
        raise self.fail(f"invalid escape sequence \\{c}")

    def hex_escape(self, i: int) -> tuple[int, int]:
        src, n = self.src, len(self.src)
        if i < n and src[i] == "{":
            end = src.find("}", i)
            digits = src[i + 1 : end] if end >= 0 else ""
            if digits and all(d in _HEX for d in digits) and int(digits, 16) <= _MAX_CODEPOINT:
                return int(digits, 16), end + 1
        elif i + 1 < n and src[i] in _HEX and src[i + 1] in _HEX:
            return int(src[i : i + 2], 16), i + 2
        raise self.fail("invalid escape sequence \\x")

    def char_class(self, flags: int) -> _ReAtom:
        src, n = self.src, len(self.src)
        self.pos += 1
        negated = self.pos < n and src[self.pos] == "^"
        if negated:
            self.pos += 1
        ranges: list[tuple[int, int]] = []
        first = True  # `]` is literal as the first member
        while self.pos >= n or src[self.pos] != "]" or first:
            if self.pos >= n:
                raise self.fail("missing closing ]")
            first = False
            i = self.pos
            if n - i > 2 and src[i] == "[" and src[i + 1] == ":":
                close = src.find(":]", i + 2)
                if close >= 0:
                    name = src[i + 2 : close]
                    negate_named = name.startswith("^")
                    named = _POSIX_CLASSES.get(name[1:] if negate_named else name)
                    if named is None:
                        raise self.fail(f"invalid character class range [:{name}:]")
                    ranges.extend(_complement(named) if negate_named else named)
                    self.pos = close + 2
                    continue
            klass = self.class_escape()
            if klass is not None:
                members, negate_members = klass
                ranges.extend(_complement(members) if negate_members else members)
                continue
            lo = self.class_char()
            hi = lo
            if self.pos + 1 < n and src[self.pos] == "-" and src[self.pos + 1] != "]":
                self.pos += 1
                hi = self.class_char()
                if hi < lo:
                    raise self.fail("invalid character class range")
            ranges.append((lo, hi))
        self.pos += 1
        return _class_atom(ranges, negated, flags)

    def class_char(self) -> int:
        if self.pos >= len(self.src):
            raise self.fail("missing closing ]")
        if self.src[self.pos] == "\\":
            return self.escape()
        self.pos += 1
        return ord(self.src[self.pos - 1])


@functools.lru_cache(maxsize=1024)
def _compile_re2(source: str) -> re.Pattern[str]:
    try:
        return re.compile(_Re2Parser(source).translate())
    except (re.error, OverflowError, RecursionError) as exc:
        raise _PatternSyntaxError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled `/…/` pattern (RE2 syntax). Equal by source; `matches` is a full match, as in CircleCI.

    Raises ValueError if `source` is not valid RE2 syntax.
    """

    source: str
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", _compile_re2(self.source))

    def matches(self, text: str) -> bool:
        return self._regex.fullmatch(text) is not None


# --- scanner ----------------------------------------------------------------------------------------------------


class _Token:
    __slots__ = ("lexeme", "pos", "type", "value")

    def __init__(self, type_: str, lexeme: str, pos: int, value: Any = None) -> None:
        self.type = type_
        self.lexeme = lexeme
        self.pos = pos
        self.value = value


_ALPHA: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS: Final = frozenset("0123456789")
_IDENT_TAIL: Final = _ALPHA | _DIGITS | frozenset("-_?")
_WORDS: Final = {
    "and": "AND",
    "AND": "AND",
    "or": "OR",
    "OR": "OR",
    "not": "NOT",
    "NOT": "NOT",
    "true": "TRUE",
    "TRUE": "TRUE",
    "false": "FALSE",
    "FALSE": "FALSE",
    "contains": "BUILTIN",
    "CONTAINS": "BUILTIN",
    "matches": "BUILTIN",
    "MATCHES": "BUILTIN",
    "starts-with": "BUILTIN",
    "STARTS-WITH": "BUILTIN",
}
_WHITESPACE: Final = frozenset(" \t\r\n")


def _scan(src: str) -> list[_Token]:
    tokens: list[_Token] = []
    append = tokens.append
    n = len(src)
    i = 0
    while i < n:
        c = src[i]
        start = i
        i += 1
        if c in _WHITESPACE:
            continue
        if c in _ALPHA:
            while i < n:
                d = src[i]
                if d in _IDENT_TAIL or (d == "." and i + 1 < n and src[i + 1] in _IDENT_TAIL):
                    i += 1
                else:
                    break
            word = src[start:i]
            append(_Token(_WORDS.get(word, "IDENTIFIER"), word, start, word))
        elif c in _DIGITS:
            while i < n and src[i] in _DIGITS:
                i += 1
            digits = src[start:i]
            # Length first: int() refuses very long digit strings outright.
            if len(digits.lstrip("0")) > 19 or int(digits) > _MAX_INT64:
                raise _scan_error(INVALID_NUMERIC_LITERAL, c, start)
            append(_Token("NUMBER", digits, start, int(digits)))
        elif c == "(":
            append(_Token("LEFT_PAREN", c, start))
        elif c == ")":
            append(_Token("RIGHT_PAREN", c, start))
        elif c in "!><":
            if i < n and src[i] == "=":
                i += 1
                append(_Token({"!": "NOT_EQUAL", ">": "GREATER_EQUAL", "<": "LESS_EQUAL"}[c], c + "=", start))
            else:
                append(_Token({"!": "NOT", ">": "GREATER", "<": "LESS"}[c], c, start))
        elif c == "=":
            if i < n and src[i] == "=":
                i += 1
                append(_Token("EQUAL", "==", start))
            else:
                raise _scan_error(INCOMPLETE_EQUALS, src[i] if i < n else "", i)
        elif c == '"':
            i = _scan_string(src, start, tokens)
        elif c == "/":
            i = _scan_pattern(src, start, tokens)
        else:
            raise _scan_error(UNEXPECTED_CHARACTER, c, start)
    append(_Token("EOF", "", n))
    return tokens


def _scan_string(src: str, start: int, tokens: list[_Token]) -> int:
    n = len(src)
    i = start + 1
    escaped = False
    while i < n and src[i] != '"':
        if src[i] == "\\" and i + 1 < n and src[i + 1] in '"\\':
            i += 1
            escaped = True
        i += 1
    if i >= n:
        raise _scan_error(UNTERMINATED_STRING, '"', start)
    value = src[start + 1 : i]
    if escaped:
        value = value.replace('\\"', '"').replace("\\\\", "\\")  # the same two replacements as upstream
    tokens.append(_Token("STRING", src[start : i + 1], start, value))
    return i + 1


def _scan_pattern(src: str, start: int, tokens: list[_Token]) -> int:
    n = len(src)
    i = start + 1
    while i < n and src[i] != "/":
        c = src[i]
        if c == "\\" and i + 1 < n:
            following = src[i + 1]
            if following == "/":
                i += 1
            elif following in "ux":
                # Upstream bans \u and \x so no code point outside ASCII/Latin-1 can be written.
                raise _scan_error(INVALID_PATTERN_CHARACTER, c, i)
        elif c > "\xff":
            raise _scan_error(INVALID_PATTERN_CHARACTER, c, i)
        i += 1
    if i >= n:
        raise _scan_error(UNTERMINATED_PATTERN, "/", start)
    source = src[start + 1 : i].replace("\\/", "/")
    if len(source) > MAX_PATTERN_LENGTH:
        raise _scan_error(PATTERN_TOO_LONG, "/", start)
    try:
        pattern = Pattern(source)
    except _PatternSyntaxError as exc:
        raise _scan_error(INVALID_PATTERN, "/", start) from exc
    tokens.append(_Token("PATTERN", src[start : i + 1], start, pattern))
    return i + 1


# --- AST and evaluation -----------------------------------------------------------------------------------------


def _coerce(value: Any) -> Any:
    # Normalise environment values so the evaluator can compare classes exactly.
    if value is None:
        return UNDEFINED
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)  # e.g. IntEnum
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float) and value.is_integer():  # a whole-number float, e.g. from JSON
        return int(value)
    return value  # bool, UNDEFINED, Pattern, or an opaque value (truthy, compared only with ==)


class _Node:
    __slots__ = ("depth",)
    depth: int

    def eval(self, env: Mapping[str, Any]) -> Any:
        raise NotImplementedError


class _Literal(_Node):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.depth = 1
        self.value = value

    def eval(self, env: Mapping[str, Any]) -> Any:
        return self.value


class _Variable(_Node):
    __slots__ = ("name", "token")

    def __init__(self, token: _Token) -> None:
        self.depth = 1
        self.name = token.lexeme
        self.token = token

    def eval(self, env: Mapping[str, Any]) -> Any:
        try:
            value = env[self.name]
        except KeyError:
            raise _token_error(UNKNOWN_VARIABLE, self.token) from None
        cls = value.__class__
        if cls is str or cls is int or cls is bool:
            return value
        return _coerce(value)


class _Not(_Node):
    __slots__ = ("operand",)

    def __init__(self, operand: _Node) -> None:
        self.depth = operand.depth + 1
        self.operand = operand

    def eval(self, env: Mapping[str, Any]) -> Any:
        value = self.operand.eval(env)
        return value is False or value is UNDEFINED


class _Or(_Node):
    """`a or b or …`: the first truthy operand, else the last operand's value."""

    __slots__ = ("operands",)

    def __init__(self, operands: list[_Node]) -> None:
        self.depth = max(o.depth for o in operands) + 1
        self.operands = tuple(operands)

    def eval(self, env: Mapping[str, Any]) -> Any:
        value: Any = UNDEFINED
        for operand in self.operands:
            value = operand.eval(env)
            if value is not False and value is not UNDEFINED:
                return value
        return value


class _And(_Node):
    """`a and b and …`: the first falsy operand, else the last operand's value."""

    __slots__ = ("operands",)

    def __init__(self, operands: list[_Node]) -> None:
        self.depth = max(o.depth for o in operands) + 1
        self.operands = tuple(operands)

    def eval(self, env: Mapping[str, Any]) -> Any:
        value: Any = True
        for operand in self.operands:
            value = operand.eval(env)
            if value is False or value is UNDEFINED:
                return value
        return value


class _Binary(_Node):
    __slots__ = ("left", "right", "token")

    def __init__(self, left: _Node, token: _Token, right: _Node) -> None:
        self.depth = max(left.depth, right.depth) + 1
        self.left = left
        self.token = token
        self.right = right


class _Equal(_Binary):
    __slots__ = ()

    def eval(self, env: Mapping[str, Any]) -> Any:
        left = self.left.eval(env)
        right = self.right.eval(env)
        if left is UNDEFINED or right is UNDEFINED:
            return UNDEFINED
        return left.__class__ is right.__class__ and left == right


class _NotEqual(_Binary):
    __slots__ = ()

    def eval(self, env: Mapping[str, Any]) -> Any:
        left = self.left.eval(env)
        right = self.right.eval(env)
        if left is UNDEFINED or right is UNDEFINED:
            return UNDEFINED
        return not (left.__class__ is right.__class__ and left == right)


class _Compare(_Binary):
    __slots__ = ("op",)

    def __init__(self, left: _Node, token: _Token, right: _Node) -> None:
        super().__init__(left, token, right)
        self.op: Callable[[int, int], bool] = _COMPARISONS[token.type]

    def eval(self, env: Mapping[str, Any]) -> Any:
        left = self.left.eval(env)
        right = self.right.eval(env)
        if left is UNDEFINED or right is UNDEFINED:
            return UNDEFINED
        if left.__class__ is not int or right.__class__ is not int:
            raise _token_error(EXPECTED_NUMERIC_OPERAND, self.token)
        return self.op(left, right)


_COMPARISONS: Final[dict[str, Callable[[int, int], bool]]] = {
    "GREATER": operator.gt,
    "GREATER_EQUAL": operator.ge,
    "LESS": operator.lt,
    "LESS_EQUAL": operator.le,
}


class _StartsWith(_Binary):
    __slots__ = ()

    def eval(self, env: Mapping[str, Any]) -> Any:
        left = self.left.eval(env)
        right = self.right.eval(env)
        if left is UNDEFINED or right is UNDEFINED:
            return UNDEFINED
        if left.__class__ is not str or right.__class__ is not str:
            raise _token_error(EXPECTED_STRING_OPERAND, self.token)
        return left.startswith(right)


class _Contains(_Binary):
    __slots__ = ()

    def eval(self, env: Mapping[str, Any]) -> Any:
        left = self.left.eval(env)
        right = self.right.eval(env)
        if left is UNDEFINED or right is UNDEFINED:
            return UNDEFINED
        if left.__class__ is not str or right.__class__ is not str:
            raise _token_error(EXPECTED_STRING_OPERAND, self.token)
        return right in left


class _Matches(_Binary):
    __slots__ = ()

    def eval(self, env: Mapping[str, Any]) -> Any:
        left = self.left.eval(env)
        right = self.right.eval(env)
        if left is UNDEFINED or right is UNDEFINED:
            return UNDEFINED
        # Upstream checks the pattern first: `5 matches 12` is a missing pattern.
        if right.__class__ is not Pattern:
            raise _token_error(EXPECTED_PATTERN_OPERAND, self.token)
        if left.__class__ is not str:
            raise _token_error(EXPECTED_STRING_OPERAND, self.token)
        return right.matches(left)


_BUILTINS: Final[dict[str, type[_Binary]]] = {
    "contains": _Contains,
    "matches": _Matches,
    "starts-with": _StartsWith,
}


# --- parser -----------------------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list, following upstream's grammar and error choices exactly."""

    __slots__ = ("nesting", "pos", "tokens", "variables")

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.nesting = 0
        self.variables: set[str] = set()

    def parse(self) -> _Node:
        node = self.logic_or()
        token = self.tokens[self.pos]
        if token.type != "EOF":
            self.check_unrecognised_function()
            raise _token_error(UNEXPECTED_ADDITIONAL_INPUT, token)
        return node

    def check_unrecognised_function(self) -> None:
        # `a wrong b`: an identifier followed by a valid operand is most likely a misspelt infix function.
        token = self.tokens[self.pos]
        if token.type != "IDENTIFIER":
            return
        self.pos += 1
        try:
            self.comparison()
        except ExpressionError:
            return
        raise _token_error(UNKNOWN_BUILTIN_FUNCTION, token)

    def logic_or(self) -> _Node:
        node = self.logic_and()
        if self.tokens[self.pos].type != "OR":
            return node
        token = self.tokens[self.pos]
        operands = [node]
        while self.tokens[self.pos].type == "OR":
            self.pos += 1
            operands.append(self.logic_and())
        return self.checked(_Or(operands), token)

    def logic_and(self) -> _Node:
        node = self.equality()
        if self.tokens[self.pos].type != "AND":
            return node
        token = self.tokens[self.pos]
        operands = [node]
        while self.tokens[self.pos].type == "AND":
            self.pos += 1
            operands.append(self.equality())
        return self.checked(_And(operands), token)

    def equality(self) -> _Node:
        node = self.comparison()
        while True:
            token = self.tokens[self.pos]
            kind = token.type
            if kind == "EQUAL":
                node_type: type[_Binary] = _Equal
            elif kind == "NOT_EQUAL":
                node_type = _NotEqual
            elif kind == "BUILTIN":
                node_type = _BUILTINS[token.lexeme.lower()]
            else:
                return node
            self.pos += 1
            node = self.checked(node_type(node, token, self.comparison()), token)

    def comparison(self) -> _Node:
        node = self.unary()
        while self.tokens[self.pos].type in _COMPARISONS:
            token = self.tokens[self.pos]
            self.pos += 1
            node = self.checked(_Compare(node, token, self.unary()), token)
        return node

    def unary(self) -> _Node:
        token = self.tokens[self.pos]
        if token.type != "NOT":
            return self.primary()
        self.pos += 1
        self.enter(token)
        node = _Not(self.unary())
        self.nesting -= 1
        return self.checked(node, token)

    def primary(self) -> _Node:
        token = self.tokens[self.pos]
        kind = token.type
        if kind == "IDENTIFIER":
            self.pos += 1
            self.variables.add(token.lexeme)
            return _Variable(token)
        if kind in ("NUMBER", "STRING", "PATTERN"):
            self.pos += 1
            return _Literal(token.value)
        if kind == "TRUE" or kind == "FALSE":
            self.pos += 1
            return _Literal(kind == "TRUE")
        if kind == "LEFT_PAREN":
            self.pos += 1
            self.enter(token)
            node = self.logic_or()
            self.nesting -= 1
            if self.tokens[self.pos].type != "RIGHT_PAREN":
                raise _token_error(EXPECTED_RIGHT_PAREN, self.tokens[self.pos])
            self.pos += 1
            return node
        raise _token_error(EXPECTED_EXPRESSION, token)

    def enter(self, token: _Token) -> None:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise _token_error(TOO_DEEPLY_NESTED, token)

    @staticmethod
    def checked(node: _Node, token: _Token) -> _Node:
        if node.depth > _MAX_DEPTH:
            raise _token_error(TOO_DEEPLY_NESTED, token)
        return node


# --- public API -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression: immutable, so one instance can be cached and evaluated against many environments."""

    source: str
    _root: _Node = field(repr=False, compare=False)
    _variables: frozenset[str] = field(repr=False, compare=False)

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """The expression's value in `env`, a flat mapping of dotted names to values (None means undefined).

        Returns bool, int, str, Pattern or UNDEFINED (other kinds of env value pass through as opaque values).
        Raises ExpressionError for a name missing from `env` and for operands of the wrong type.
        """
        return self._root.eval(env)

    def variables(self) -> frozenset[str]:
        """Every identifier the expression refers to, whether or not evaluation would reach it."""
        return self._variables


def _parse_uncached(expression: str) -> Expression:
    parser = _Parser(_scan(expression))
    root = parser.parse()
    return Expression(expression, root, frozenset(parser.variables))


@functools.lru_cache(maxsize=4096)
def _parse_cached(expression: str) -> Expression | ExpressionError:
    # Errors are cached too: bare `when:` strings that aren't expressions are parsed again and again.
    try:
        return _parse_uncached(expression)
    except ExpressionError as exc:
        # Drop frames the cached error would otherwise keep alive.
        for error in (exc, exc.__cause__, exc.__context__):
            if error is not None:
                error.__traceback__ = None
        return exc


def parse(expression: str) -> Expression:
    """Scan and parse an expression (results are cached). Raises ExpressionError for scan and parse errors."""
    result = _parse_cached(expression)
    if isinstance(result, ExpressionError):
        raise result.copy()
    return result


def evaluate(expression: str, env: Mapping[str, Any]) -> Any:
    """Parse (cached) and evaluate `expression` in the flat environment `env`."""
    return parse(expression).evaluate(env)


def is_truthy(value: Any) -> bool:
    """Expression truthiness: only false and undefined (or None) are falsy; "", 0 and patterns are truthy."""
    return not (value is False or value is None or value is UNDEFINED)
