"""A safe expression language for eligibility rules: a CEL subset, compiled once to closures.

Rules such as ``member.churn_risk > 0.6 && !(member.open_tickets > 0) && "email" in
channels`` are parsed by our own parser (never Python ``eval``) into nested closures, so
evaluating one costs a few microseconds: a decision scores hundreds of actions within a
millisecond. (``cel-python``'s interpreter took about 360 microseconds for that rule here.)

Grammar, loosest first::

    expr    := or ("?" expr ":" expr)?
    or      := and ("||" and)*
    and     := rel ("&&" rel)*
    rel     := add (("<" | "<=" | ">" | ">=" | "==" | "!=" | "in") add)?
    add     := mul (("+" | "-") mul)*
    mul     := unary (("*" | "/" | "%") unary)*
    unary   := ("!" | "-") unary | postfix
    postfix := primary ("." NAME | "[" expr "]" | "(" args ")")*
    primary := NUMBER | STRING | true | false | null | NAME | "(" expr ")" | "[" args "]"

Functions: ``size(x)``, ``has(path)`` (the path exists and is not null), ``min(...)``,
``max(...)``, ``abs(x)``. Missing values are null, and a comparison or arithmetic with null is
false or null rather than an error, so a rule over an unscored member is simply not met.

>>> rule = compile_expression('member.churn_risk > 0.6 && "email" in channels')
>>> rule.evaluate({"member": {"churn_risk": 0.7}, "channels": ["email", "sms"]})
True
>>> rule.evaluate({"member": {}, "channels": ["email"]})
False
>>> sorted(rule.roots)
['channels', 'member']
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nextbest.errors import NextbestError

Context = Mapping[str, Any]
Fn = Callable[[Context], Any]


class ExpressionError(NextbestError, ValueError):
    """An expression that cannot compile; names the column and the reason."""

    def __init__(self, source: str, column: int, reason: str) -> None:
        self.source, self.column, self.reason = source, column, reason
        super().__init__(f"column {column}: {reason}")


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>\d+\.\d*(?:[eE][-+]?\d+)?|\d*\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>&&|\|\||<=|>=|==|!=|[<>!+\-*/%?:.,()\[\]])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
MAX_LENGTH = 2_000


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    column: int


def _tokens(source: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            column = pos + len(source[pos:]) - len(source[pos:].lstrip()) + 1
            raise ExpressionError(source, column, f"unexpected character {source[column - 1]!r}")
        kind = m.lastgroup or "op"
        text = m.group(kind)
        out.append(_Tok(kind, text, m.start(kind) + 1))
        pos = m.end()
    out.append(_Tok("end", "", len(source) + 1))
    return out


def _unquote(text: str) -> str:
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compare(op: str) -> Callable[[Any, Any], Any]:
    order = _ORDER.get(op)

    def ordered(a: Any, b: Any) -> bool:
        ta, tb = type(a), type(b)
        # The common case first (two plain numbers); bool is its own type, so never here.
        if (ta is int or ta is float) and (tb is int or tb is float):
            return order(a, b)  # type: ignore[misc]
        if a is None or b is None:
            return False
        if not ((_num(a) and _num(b)) or (isinstance(a, str) and isinstance(b, str))):
            return False
        return bool(order(a, b))  # type: ignore[misc]

    if op == "==":
        return lambda a, b: a == b
    if op == "!=":
        return lambda a, b: a != b
    if op == "in":
        return lambda a, b: (
            isinstance(b, list | tuple | set | frozenset | dict | str)
            and (not isinstance(b, str) or isinstance(a, str))
            and a in b
        )
    return ordered


def _arith(op: str) -> Callable[[Any, Any], Any]:
    def run(a: Any, b: Any) -> Any:
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        if not (_num(a) and _num(b)):
            return None
        if op in "/%" and b == 0:
            return None
        return (
            a + b
            if op == "+"
            else a - b
            if op == "-"
            else a * b
            if op == "*"
            else (a / b if op == "/" else a % b)
        )

    return run


def _size(v: Any) -> Any:
    return len(v) if isinstance(v, str | list | tuple | dict | set) else None


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def run(*values: Any) -> Any:
        nums = [v for v in values if _num(v)]
        return pick(nums) if nums and len(nums) == len(values) else None

    return run


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "min": _extreme(min),
    "max": _extreme(max),
    "abs": lambda v: abs(v) if _num(v) else None,
}


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.toks = _tokens(source)
        self.i = 0
        self.roots: set[str] = set()

    # --- helpers -----------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> _Tok:
        tok = self.tok
        if text is not None and tok.text != text:
            found = tok.text or "the end"
            raise ExpressionError(self.source, tok.column, f"expected {text!r}, found {found!r}")
        self.i += 1
        return tok

    def at(self, *texts: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in texts

    # --- grammar -----------------------------------------------------------------------
    def parse(self) -> Fn:
        fn = self.expr()
        if self.tok.kind != "end":
            raise ExpressionError(self.source, self.tok.column, f"unexpected {self.tok.text!r}")
        return fn

    def expr(self) -> Fn:
        cond = self.or_()
        if not self.at("?"):
            return cond
        self.take("?")
        yes = self.expr()
        self.take(":")
        no = self.expr()
        return lambda c: yes(c) if cond(c) is True else no(c)

    def or_(self) -> Fn:
        left = self.and_()
        while self.at("||"):
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda c: a(c) is True or b(c) is True)(left, right)
        return left

    def and_(self) -> Fn:
        left = self.rel()
        while self.at("&&"):
            self.take()
            right = self.rel()
            left = (lambda a, b: lambda c: a(c) is True and b(c) is True)(left, right)
        return left

    def rel(self) -> Fn:
        left = self.add()
        if self.at("<", "<=", ">", ">=", "==", "!=") or (
            self.tok.kind == "name" and self.tok.text == "in"
        ):
            op = self.take().text
            right = self.add()
            cmp = _compare(op)
            return lambda c: cmp(left(c), right(c))
        return left

    def add(self) -> Fn:
        left = self.mul()
        while self.at("+", "-"):
            run = _arith(self.take().text)
            right = self.mul()
            left = (lambda a, b, f: lambda c: f(a(c), b(c)))(left, right, run)
        return left

    def mul(self) -> Fn:
        left = self.unary()
        while self.at("*", "/", "%"):
            run = _arith(self.take().text)
            right = self.unary()
            left = (lambda a, b, f: lambda c: f(a(c), b(c)))(left, right, run)
        return left

    def unary(self) -> Fn:
        if self.at("!"):
            self.take()
            inner = self.unary()
            return lambda c: inner(c) is not True
        if self.at("-"):
            self.take()
            inner = self.unary()

            def negate(c: Context) -> Any:
                v = inner(c)
                return -v if _num(v) else None

            return negate
        return self.postfix()

    def postfix(self) -> Fn:
        start = self.tok
        fn, path = self.primary()
        while self.at(".", "[", "("):
            if self.at("."):
                self.take()
                name = self.take()
                if name.kind != "name":
                    raise ExpressionError(self.source, name.column, "expected a field name")
                fn = _field(fn, name.text)
                path = f"{path}.{name.text}" if path else None
            elif self.at("["):
                self.take()
                key = self.expr()
                self.take("]")
                fn = _index(fn, key)
                path = None
            else:
                fn = self.call(start, path)
                path = None
        return fn

    def call(self, start: _Tok, name: str | None) -> Fn:
        self.take("(")
        if name == "has":
            arg_tok = self.tok
            arg = self.expr()
            self.take(")")
            if self.toks[self.i - 2].kind != "name":
                raise ExpressionError(self.source, arg_tok.column, "has() takes a field path")
            return lambda c: arg(c) is not None
        if name is None or "." in name or name not in FUNCTIONS:
            raise ExpressionError(self.source, start.column, f"unknown function {name!r}")
        self.roots.discard(name)
        args: list[Fn] = []
        while not self.at(")"):
            args.append(self.expr())
            if not self.at(")"):
                self.take(",")
        self.take(")")
        func = FUNCTIONS[name]
        return lambda c: func(*(a(c) for a in args))

    def primary(self) -> tuple[Fn, str | None]:
        tok = self.take()
        if tok.kind == "number":
            value: Any = float(tok.text) if any(ch in tok.text for ch in ".eE") else int(tok.text)
            return (lambda c: value), None
        if tok.kind == "string":
            text = _unquote(tok.text)
            return (lambda c: text), None
        if tok.kind == "name":
            constants = {"true": True, "false": False, "null": None}
            if tok.text in constants:
                const = constants[tok.text]
                return (lambda c: const), None
            if tok.text == "in":
                raise ExpressionError(self.source, tok.column, "'in' needs a left operand")
            name = tok.text
            if not self.at("(") or (name not in FUNCTIONS and name != "has"):
                self.roots.add(name)
            return (lambda c: c.get(name)), name
        if tok.text == "(":
            inner = self.expr()
            self.take(")")
            return inner, None
        if tok.text == "[":
            items: list[Fn] = []
            while not self.at("]"):
                items.append(self.expr())
                if not self.at("]"):
                    self.take(",")
            self.take("]")
            return (lambda c: [f(c) for f in items]), None
        found = tok.text or "the end"
        raise ExpressionError(self.source, tok.column, f"unexpected {found!r}")


def _field(fn: Fn, name: str) -> Fn:
    def get(c: Context) -> Any:
        v = fn(c)
        if type(v) is dict:  # the usual case, without the cost of an ABC check
            return v.get(name)
        return v.get(name) if isinstance(v, Mapping) else None

    return get


def _index(fn: Fn, key: Fn) -> Fn:
    def get(c: Context) -> Any:
        v, k = fn(c), key(c)
        if isinstance(v, Mapping):
            return v.get(k)
        if isinstance(v, list | tuple) and isinstance(k, int) and not isinstance(k, bool):
            return v[k] if -len(v) <= k < len(v) else None
        return None

    return get


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled rule: its source, the context names it reads, and its closure."""

    source: str
    roots: frozenset[str]
    _fn: Fn

    def evaluate(self, context: Context) -> Any:
        return self._fn(context)

    def holds(self, context: Context) -> bool:
        """True only when the rule evaluates to true (null and non-booleans are not met)."""
        return self._fn(context) is True


def compile_expression(source: str, *, names: frozenset[str] | None = None) -> Expression:
    """Parse and compile ``source``; with ``names``, refuse roots outside them.

    >>> compile_expression("member.tier == 'gold' ? 2 : 1").evaluate({"member": {"tier": "gold"}})
    2
    >>> compile_expression("size(member.tickets) > 0 &&", names=frozenset({"member"}))
    Traceback (most recent call last):
    ...
    nextbest.decide.expressions.ExpressionError: column 28: unexpected 'the end'
    """
    if len(source) > MAX_LENGTH:
        raise ExpressionError(source, MAX_LENGTH, f"longer than {MAX_LENGTH} characters")
    parser = _Parser(source)
    fn = parser.parse()
    if names is not None:
        unknown = sorted(parser.roots - names)
        if unknown:
            known = ", ".join(sorted(names))
            raise ExpressionError(source, 1, f"unknown name {unknown[0]!r} (known: {known})")
    return Expression(source=source, roots=frozenset(parser.roots), _fn=fn)
