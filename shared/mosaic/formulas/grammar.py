"""Formula text to syntax tree: a lark LALR grammar with an inline tree builder.

As in the filter language (:mod:`mosaic.filters.grammar`), the builder runs on every reduction,
so the depth and size limits are enforced while the tree grows and a hostile formula is refused
before anything recurses over it. Errors are :class:`~mosaic.errors.ValidationFailed` with
``errors={"formula": [message with a 1-based position]}``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mosaic.errors import ValidationFailed
from mosaic.filters.grammar import unquote

MAX_LENGTH = 4096
MAX_DEPTH = 64
MAX_NODES = 500

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr                -> not_
         | comparison
?comparison: concat
           | concat CMP concat          -> compare
?concat: sum (_AMP sum)*
?sum: product (ADDOP product)*
?product: unary (MULOP unary)*
?unary: MINUS unary                     -> neg
      | PLUS unary                      -> pos
      | atom
?atom: NUMBER                           -> number
     | STRING                           -> string
     | TRUE                             -> true
     | FALSE                            -> false
     | NULL                             -> null
     | NAME "(" [args] ")"              -> call
     | _AND "(" [args] ")"              -> and_call
     | _OR "(" [args] ")"               -> or_call
     | NAME "." NAME                    -> subref
     | NAME                             -> ref
     | "(" or_expr ")"
args: or_expr ("," or_expr)*

// Keywords are case-insensitive whole words (``notes`` stays a NAME). NOT(x) needs no call
// rule: it parses as ``not (x)``, which means the same.
_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NULL.2: /null\b/i
CMP: "!=" | "<>" | "<=" | ">=" | "=" | "<" | ">"
ADDOP: MINUS | PLUS
MINUS: "-"
PLUS: "+"
MULOP: "*" | "/"
_AMP: "&"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"(?:\\.|[^"\\])*"/s | /'(?:\\.|[^'\\])*'/s
NUMBER: /\d+(?:\.\d+)?/
%ignore /\s+/
"""

_TERMINAL_NAMES = {
    "NAME": "a field or function name", "CMP": "a comparison (=, !=, <>, <, <=, >, >=)",
    "STRING": "a string", "NUMBER": "a number", "TRUE": "true", "FALSE": "false", "NULL": "null",
    "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "DOT": "'.'", "_AND": "'and'", "_OR": "'or'",
    "_NOT": "'not'", "ADDOP": "'+' or '-'", "MINUS": "'-'", "PLUS": "'+'", "MULOP": "'*' or '/'",
    "_AMP": "'&'", "$END": "the end of the formula",
}


@dataclass(frozen=True)
class Node:
    """One node of a formula: ``kind`` is literal, ref, unary, binary, compare, and, or, not or
    call; ``value`` the literal, field name, operator or function name; ``args`` the operands."""

    kind: str
    value: Any
    args: tuple["Node", ...] = ()
    pos: int = 0
    #: for a ``ref``: the part of a money field (``price.amount``), else None.
    sub: str | None = None
    depth: int = field(default=1, compare=False)
    size: int = field(default=1, compare=False)


def fail(message: str, pos: int) -> ValidationFailed:
    """The error of a formula problem at 0-based ``pos``."""
    text = f"{message} at position {pos + 1}"
    return ValidationFailed(text, errors={"formula": [text]})


def _make(kind: str, value: Any, args: tuple[Node, ...], pos: int, sub: str | None = None) -> Node:
    depth = 1 + max((a.depth for a in args), default=0)
    size = 1 + sum(a.size for a in args)
    if depth > MAX_DEPTH:
        raise fail(f"formula nested too deeply (more than {MAX_DEPTH} levels)", pos)
    if size > MAX_NODES:
        raise fail(f"formula too large (more than {MAX_NODES} terms)", pos)
    return Node(kind, value, args, pos, sub, depth, size)


class _Builder(Transformer):
    """Builds :class:`Node` trees on each LALR reduction (stateless, shared by all parses)."""

    def number(self, c):
        text = c[0].value
        return _make("literal", float(text) if "." in text else int(text), (), c[0].start_pos,
                     sub="number")

    def string(self, c):
        return _make("literal", unquote(c[0], fail), (), c[0].start_pos, sub="string")

    def true(self, c):
        return _make("literal", True, (), c[0].start_pos, sub="boolean")

    def false(self, c):
        return _make("literal", False, (), c[0].start_pos, sub="boolean")

    def null(self, c):
        return _make("literal", None, (), c[0].start_pos, sub="null")

    def ref(self, c):
        return _make("ref", c[0].value, (), c[0].start_pos)

    def subref(self, c):
        return _make("ref", c[0].value, (), c[0].start_pos, sub=c[1].value)

    def args(self, c):
        return tuple(c)

    def call(self, c):
        name, args = c[0], c[1] if len(c) > 1 and c[1] is not None else ()
        return _make("call", name.value.upper(), args, name.start_pos)

    def and_call(self, c):
        return self._junction_call("AND", c)

    def or_call(self, c):
        return self._junction_call("OR", c)

    @staticmethod
    def _junction_call(name, c):
        args = c[0] if c and c[0] is not None else ()
        return _make("call", name, args, args[0].pos if args else 0)

    def neg(self, c):
        return _make("unary", "-", (c[1],), c[0].start_pos)

    def pos(self, c):
        return _make("unary", "+", (c[1],), c[0].start_pos)

    def _chain(self, kind, c):
        # Left-associative: a - b - c is (a - b) - c.
        node = c[0]
        for op, right in zip(c[1::2], c[2::2]):
            node = _make(kind, op.value, (node, right), op.start_pos)
        return node

    def sum(self, c):
        return self._chain("binary", c)

    def product(self, c):
        return self._chain("binary", c)

    def concat(self, c):
        node = c[0]
        for right in c[1:]:
            node = _make("binary", "&", (node, right), right.pos)
        return node

    def compare(self, c):
        left, op, right = c
        return _make("compare", "!=" if op.value == "<>" else op.value, (left, right), op.start_pos)

    def not_(self, c):
        return _make("not", "not", (c[0],), c[0].pos)

    def and_expr(self, c):
        return _make("and", "and", tuple(c), c[0].pos)

    def or_expr(self, c):
        return _make("or", "or", tuple(c), c[0].pos)


_PARSER = Lark(GRAMMAR, parser="lalr", transformer=_Builder(), maybe_placeholders=True)


def parse_tree(text: str) -> Node:
    """The syntax tree of ``text``; raises ValidationFailed on a syntax error or a formula over
    the limits (4,096 characters, 500 terms, nesting depth 64)."""
    if not isinstance(text, str):
        raise ValidationFailed("formula must be a string", errors={"formula": ["formula must be a string"]})
    if len(text) > MAX_LENGTH:
        message = f"formula is too long ({len(text)} characters, at most {MAX_LENGTH})"
        raise ValidationFailed(message, errors={"formula": [message]})
    if not text.strip():
        raise ValidationFailed("formula is empty", errors={"formula": ["formula is empty"]})
    try:
        return _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None


def _syntax_error(text: str, exc: UnexpectedInput) -> ValidationFailed:
    if isinstance(exc, UnexpectedCharacters):
        pos, char = exc.pos_in_stream, text[exc.pos_in_stream]
        if char in "\"'":
            return fail("unterminated string", pos)
        return fail(f"unexpected character {char!r}{_expected(exc.allowed)}", pos)
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return fail(f"unexpected end of formula{_expected(exc.expected)}", len(text))
    token = exc.token
    return fail(f"unexpected {token.value!r}{_expected(exc.expected)}", token.start_pos)


def _expected(terminals) -> str:
    names = sorted({_TERMINAL_NAMES.get(t, t.lower()) for t in terminals or ()})
    return f" (expected {', '.join(names)})" if names else ""


def walk(node: Node):
    """Every node of the tree, parents first (iterative)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.args))


def references(text: str) -> set[str]:
    """The field names ``text`` refers to (syntax only; no type check)."""
    return {n.value for n in walk(parse_tree(text)) if n.kind == "ref"}
