"""Text to syntax tree: a lark LALR grammar with an inline tree builder.

The builder runs on every reduction of the LALR parser (no parse tree, no recursion), so the depth
and comparison limits are enforced while the tree grows: a filter of 2,000 nested ``not`` is refused
at the 33rd, before anything recurses over it. Lark's errors are translated into
:class:`~mosaic.errors.InvalidFilter` with a 1-based character position.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Callable

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mosaic.errors import InvalidFilter
from mosaic.filters.ast import (UNITS, And, Compare, FieldRef, InList, IsNull, Match, Node, Not, Or,
                                Value, Within)

MAX_LENGTH = 4096
MAX_COMPARISONS = 100
MAX_DEPTH = 32

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr             -> not_
         | atom
?atom: "(" or_expr ")"
     | field CMP value               -> compare
     | field BEFORE value            -> compare
     | field AFTER value             -> compare
     | field _IN "(" values ")"      -> in_list
     | field _NOT _IN "(" values ")" -> not_in_list
     | field CONTAINS value          -> match
     | field STARTSWITH value        -> match
     | field ENDSWITH value          -> match
     | field _IS NULL_VALUE          -> is_null
     | field _IS _NOT NULL_VALUE     -> is_not_null
     | field _WITHIN LAST NUMBER UNIT -> within
     | field _WITHIN NEXT NUMBER UNIT -> within
values: value ("," value)*
field: NAME ("." NAME)?
?value: STRING | NUMBER | DATETIME | DATE | TRUE | FALSE | NULL_VALUE | TODAY | NOW

// Keywords are case-insensitive whole words: the priority lets ``not`` win over NAME, the
// word boundary keeps ``notes`` a NAME and stops ``a = 1 andy = 2`` from lexing as ``and y``.
_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_IS.2: /is\b/i
_WITHIN.2: /within\b/i
NULL_VALUE.2: /null\b/i
BEFORE.2: /before\b/i
AFTER.2: /after\b/i
CONTAINS.2: /contains\b/i
STARTSWITH.2: /startswith\b/i
ENDSWITH.2: /endswith\b/i
LAST.2: /last\b/i
NEXT.2: /next\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
TODAY.2: /today\b/i
NOW.2: /now\b/i
UNIT.2: /(minute|hour|day|week|month|year)s?\b/i
CMP: "!=" | "<=" | ">=" | "=" | "<" | ">"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"(?:\\.|[^"\\])*"/s | /'(?:\\.|[^'\\])*'/s
DATETIME.3: /\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:\d{2})?/
DATE.2: /\d{4}-\d{2}-\d{2}/
NUMBER: /-?\d+(?:\.\d+)?/
%ignore /\s+/
"""

#: how a terminal is named in "expected ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a field name", "CMP": "a comparison (=, !=, <, <=, >, >=)", "STRING": "a string",
    "NUMBER": "a number", "DATE": "a date", "DATETIME": "a datetime", "TRUE": "true",
    "FALSE": "false", "NULL_VALUE": "null", "TODAY": "today", "NOW": "now", "UNIT": "a time unit",
    "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "DOT": "'.'", "_AND": "'and'", "_OR": "'or'",
    "_NOT": "'not'", "_IN": "'in'", "_IS": "'is'", "_WITHIN": "'within'",
    "BEFORE": "'before'", "AFTER": "'after'", "CONTAINS": "'contains'",
    "STARTSWITH": "'startswith'", "ENDSWITH": "'endswith'", "LAST": "'last'", "NEXT": "'next'",
    "$END": "the end of the filter",
}

_UNIT_NAMES = {u[:-1]: u for u in UNITS}  # singular -> plural

_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _fail(message: str, pos: int, hint: str = "") -> InvalidFilter:
    text = f"{message} at position {pos + 1}{hint}"
    return InvalidFilter(text, errors={"filter": [text]})


def unquote(token: Token, fail: Callable[[str, int], Exception]) -> str:
    """The string a quoted literal token denotes: ``\\n``, ``\\t``, ``\\r``, ``\\uXXXX``; a
    backslash before any other character stands for that character (``\\"``, ``\\'``,
    ``\\\\``). ``fail(message, position)`` builds the error of a bad escape (the filter and the
    formula languages share the literal syntax, not the error type)."""
    body, out, i = token.value[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u":
            digits = body[i + 2:i + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise fail("bad \\u escape (needs 4 hex digits)", token.start_pos + i + 1)
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_STRING_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _value(token: Token) -> Value:
    pos, kind = token.start_pos, token.type
    if kind == "STRING":
        return Value("string", unquote(token, _fail), pos)
    if kind == "NUMBER":
        text = token.value
        return Value("number", Decimal(text) if "." in text else int(text), pos)
    if kind in ("TRUE", "FALSE"):
        return Value("boolean", kind == "TRUE", pos)
    if kind == "NULL_VALUE":
        return Value("null", None, pos)
    if kind in ("TODAY", "NOW"):
        return Value(kind.lower(), None, pos)
    try:
        if kind == "DATE":
            return Value("date", date.fromisoformat(token.value), pos)
        parsed = datetime.fromisoformat(token.value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"invalid {kind.lower()} {token.value!r}", pos) from None
    # A datetime without an offset is UTC: stored datetimes are UTC, and so is ``now``.
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return Value("datetime", parsed.astimezone(timezone.utc), pos)


def _checked(node: Node, pos: int) -> Node:
    if node.depth > MAX_DEPTH:
        raise _fail(f"filter nested too deeply (more than {MAX_DEPTH} levels)", pos)
    if node.size > MAX_COMPARISONS:
        raise _fail(f"too many comparisons (more than {MAX_COMPARISONS})", pos)
    return node


def _flatten(cls, items) -> tuple:
    # ``a and (b and c)`` is one ``and`` of three: keeps trees canonical and shallow.
    out = []
    for item in items:
        out.extend(item.items if isinstance(item, cls) else (item,))
    return tuple(out)


class _Builder(Transformer):
    """Builds :mod:`mosaic.filters.ast` nodes on each LALR reduction (stateless: shared by all
    parses, safe across threads and greenlets)."""

    def field(self, children):
        name = children[0]
        return FieldRef(name.value, children[1].value if len(children) > 1 else None, name.start_pos)

    def compare(self, children):
        ref, op, value = children
        return Compare(ref, op.value.lower(), _value(value))

    def values(self, children):
        return tuple(_value(t) for t in children)

    def in_list(self, children):
        return InList(children[0], children[1])

    def not_in_list(self, children):
        return InList(children[0], children[1], negated=True)

    def match(self, children):
        ref, mode, value = children
        return Match(ref, mode.value.lower(), _value(value))

    def is_null(self, children):
        return IsNull(children[0])

    def is_not_null(self, children):
        return IsNull(children[0], negated=True)

    def within(self, children):
        ref, direction, amount, unit = children
        if not amount.value.isdigit():
            raise _fail("'within' needs a whole, non-negative number", amount.start_pos)
        word = unit.value.lower()
        return Within(ref, direction.value.lower(), int(amount.value), _UNIT_NAMES.get(word, word))

    def not_(self, children):
        item = children[0]
        return _checked(Not(item), _first_pos(item))

    def and_expr(self, children):
        return _checked(And(_flatten(And, children)), _first_pos(children[0]))

    def or_expr(self, children):
        return _checked(Or(_flatten(Or, children)), _first_pos(children[0]))


def _first_pos(node: Node) -> int:
    while isinstance(node, (And, Or, Not)):
        node = node.items[0] if isinstance(node, (And, Or)) else node.item
    return node.field.pos


_PARSER = Lark(GRAMMAR, parser="lalr", transformer=_Builder(), maybe_placeholders=False)


def parse_tree(text: str) -> Node:
    """The syntax tree of ``text``; raises :class:`InvalidFilter` on a syntax error or a filter
    over the size limits (length, comparisons, nesting depth)."""
    if not isinstance(text, str):
        raise InvalidFilter("filter must be a string", errors={"filter": ["filter must be a string"]})
    if len(text) > MAX_LENGTH:
        message = f"filter is too long ({len(text)} characters, at most {MAX_LENGTH})"
        raise InvalidFilter(message, errors={"filter": [message]})
    if not text.strip():
        raise InvalidFilter("filter is empty", errors={"filter": ["filter is empty"]})
    try:
        return _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None


def _syntax_error(text: str, exc: UnexpectedInput) -> InvalidFilter:
    if isinstance(exc, UnexpectedCharacters):
        pos, char = exc.pos_in_stream, text[exc.pos_in_stream]
        if char in "\"'":
            return _fail("unterminated string", pos)
        return _fail(f"unexpected character {char!r}", pos, _expected(exc.allowed))
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return _fail("unexpected end of filter", len(text), _expected(exc.expected))
    token = exc.token  # UnexpectedToken
    return _fail(f"unexpected {token.value!r}", token.start_pos, _expected(exc.expected))


def _expected(terminals) -> str:
    names = sorted({_TERMINAL_NAMES.get(t, t.lower()) for t in terminals or ()})
    return f"; expected {', '.join(names)}" if names else ""
