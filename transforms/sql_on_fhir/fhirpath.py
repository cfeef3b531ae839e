"""FHIRPath tokenizer and parser: turns an expression into a small immutable AST.

The grammar follows the FHIRPath N1 specification (operator precedence table of section 4)
restricted to what SQL-on-FHIR views use: paths, function invocations, indexers, literals
(string, number, boolean, date/time, empty collection), ``%constants``, ``$this``/``$index``
and the unary/binary operators. Errors carry the character position and never the input of a
resource: the only text they quote is the expression itself, which is configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Binary",
    "Constant",
    "EmptyLiteral",
    "Expression",
    "FHIRPathSyntaxError",
    "FunctionCall",
    "Indexer",
    "Literal",
    "Member",
    "TypeOperation",
    "Unary",
    "Variable",
    "parse",
]


class FHIRPathSyntaxError(ValueError):
    """An expression that is not valid FHIRPath."""

    def __init__(self, expression: str, position: int, message: str):
        self.expression = expression
        self.position = position
        super().__init__(f"{message} at character {position} of FHIRPath {expression!r}")


# --------------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------------


class Expression:
    """Base class of AST nodes."""


@dataclass(frozen=True)
class Literal(Expression):
    """A literal: ``value`` is a Python value, ``type`` its FHIRPath system type name."""

    value: object
    type: str  # Boolean | String | Integer | Decimal | Date | DateTime | Time | Quantity
    unit: str | None = None


@dataclass(frozen=True)
class EmptyLiteral(Expression):
    """The empty collection ``{}``."""


@dataclass(frozen=True)
class Member(Expression):
    """Navigation to a child element; ``target`` None means the input focus (``$this``)."""

    target: Expression | None
    name: str


@dataclass(frozen=True)
class FunctionCall(Expression):
    """A function invocation; ``target`` None means it is invoked on the input focus."""

    target: Expression | None
    name: str
    args: tuple[Expression, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Indexer(Expression):
    target: Expression
    index: Expression


@dataclass(frozen=True)
class Binary(Expression):
    op: str
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Unary(Expression):
    op: str
    operand: Expression


@dataclass(frozen=True)
class TypeOperation(Expression):
    """``expr is Type`` / ``expr as Type``."""

    op: str
    operand: Expression
    type_name: str


@dataclass(frozen=True)
class Variable(Expression):
    """``$this``, ``$index`` or ``$total``."""

    name: str


@dataclass(frozen=True)
class Constant(Expression):
    """An external constant ``%name`` (view constants, ``%rowIndex``, ``%resource``...)."""

    name: str


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

_TOKEN_SPEC = [
    ("WS", r"\s+"),
    ("COMMENT", r"//[^\n]*|/\*.*?\*/"),
    (
        "DATETIME",
        r"@\d{4}(?:-\d{2}(?:-\d{2})?)?T(?:\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:\d{2})?",
    ),
    ("TIME", r"@T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?"),
    ("DATE", r"@\d{4}(?:-\d{2}(?:-\d{2})?)?"),
    ("NUMBER", r"\d+(?:\.\d+)?"),
    ("STRING", r"'(?:[^'\\]|\\.)*'"),
    ("DELIMITED", r"`(?:[^`\\]|\\.)*`"),
    ("CONSTANT", r"%(?:[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*')"),
    ("VARIABLE", r"\$(?:this|index|total)"),
    ("IDENT", r"[A-Za-z_][A-Za-z0-9_]*"),
    ("OP", r"<=|>=|!=|!~|[-+*/&|=~<>()\[\]{},.]"),
]
_TOKEN_RE = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _TOKEN_SPEC), re.S)
_ESCAPES = {
    "'": "'",
    '"': '"',
    "`": "`",
    "r": "\r",
    "n": "\n",
    "t": "\t",
    "f": "\f",
    "\\": "\\",
    "/": "/",
}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _unescape(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and i + 5 < len(body):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _tokenize(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(expression):
        match = _TOKEN_RE.match(expression, position)
        if not match:
            raise FHIRPathSyntaxError(expression, position, "unexpected character")
        kind = match.lastgroup or ""
        if kind not in ("WS", "COMMENT"):
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("EOF", "", len(expression)))
    return tokens


# --------------------------------------------------------------------------------------------
# Parser (precedence climbing)
# --------------------------------------------------------------------------------------------

# Lowest to highest, as in the FHIRPath precedence table.
_BINARY_LEVELS: list[tuple[str, ...]] = [
    ("implies",),
    ("or", "xor"),
    ("and",),
    ("in", "contains"),
    ("=", "~", "!=", "!~"),
    ("<=", "<", ">", ">="),
    ("|",),
    ("is", "as"),
    ("+", "-", "&"),
    ("*", "/", "div", "mod"),
]
_KEYWORD_OPERATORS = {"implies", "or", "xor", "and", "in", "contains", "is", "as", "div", "mod"}


class _Parser:
    def __init__(self, expression: str):
        self.expression = expression
        self.tokens = _tokenize(expression)
        self.index = 0

    # -- helpers ------------------------------------------------------------------------------
    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, message: str, token: _Token | None = None) -> FHIRPathSyntaxError:
        token = token or self.current
        return FHIRPathSyntaxError(self.expression, token.position, message)

    def expect(self, text: str) -> _Token:
        if self.current.text != text or self.current.kind not in ("OP",):
            found = self.current.text or "end of expression"
            raise self.error(f"expected {text!r}, found {found!r}")
        return self.advance()

    def at_operator(self, operators: tuple[str, ...]) -> bool:
        token = self.current
        if token.kind == "OP" and token.text in operators:
            return True
        return (
            token.kind == "IDENT" and token.text in operators and token.text in _KEYWORD_OPERATORS
        )

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> Expression:
        if self.current.kind == "EOF":
            raise self.error("empty expression")
        expression = self.parse_binary(0)
        if self.current.kind != "EOF":
            raise self.error(f"unexpected {self.current.text!r}")
        return expression

    def parse_binary(self, level: int) -> Expression:
        if level == len(_BINARY_LEVELS):
            return self.parse_unary()
        operators = _BINARY_LEVELS[level]
        left = self.parse_binary(level + 1)
        while self.at_operator(operators):
            op = self.advance().text
            if op in ("is", "as"):
                left = TypeOperation(op, left, self.parse_type_specifier())
                continue
            right = self.parse_binary(level + 1)
            left = Binary(op, left, right)
        return left

    def parse_type_specifier(self) -> str:
        token = self.current
        if token.kind not in ("IDENT", "DELIMITED"):
            raise self.error("expected a type name")
        parts = [self._identifier(self.advance())]
        while self.current.text == "." and self.tokens[self.index + 1].kind in (
            "IDENT",
            "DELIMITED",
        ):
            self.advance()
            parts.append(self._identifier(self.advance()))
        return ".".join(parts)

    def parse_unary(self) -> Expression:
        if self.current.kind == "OP" and self.current.text in ("+", "-"):
            op = self.advance().text
            return Unary(op, self.parse_unary())
        return self.parse_postfix()

    def parse_postfix(self) -> Expression:
        expression = self.parse_term()
        while True:
            if self.current.kind == "OP" and self.current.text == ".":
                self.advance()
                token = self.current
                if token.kind not in ("IDENT", "DELIMITED"):
                    raise self.error("expected a name after '.'")
                self.advance()
                name = self._identifier(token)
                if self.current.text == "(" and self.current.kind == "OP":
                    expression = FunctionCall(expression, name, self.parse_arguments())
                else:
                    expression = Member(expression, name)
            elif self.current.kind == "OP" and self.current.text == "[":
                self.advance()
                index = self.parse_binary(0)
                self.expect("]")
                expression = Indexer(expression, index)
            else:
                return expression

    def parse_arguments(self) -> tuple[Expression, ...]:
        self.expect("(")
        args: list[Expression] = []
        if self.current.text != ")":
            args.append(self.parse_binary(0))
            while self.current.text == "," and self.current.kind == "OP":
                self.advance()
                args.append(self.parse_binary(0))
        self.expect(")")
        return tuple(args)

    def parse_term(self) -> Expression:
        token = self.current
        kind = token.kind
        if kind == "NUMBER":
            self.advance()
            if self.current.kind == "STRING" or (
                self.current.kind == "IDENT" and self.current.text in _CALENDAR_UNITS
            ):
                unit_token = self.advance()
                unit = (
                    _unescape(unit_token.text[1:-1])
                    if unit_token.kind == "STRING"
                    else unit_token.text
                )
                return Literal(float(token.text), "Quantity", unit)
            if "." in token.text:
                return Literal(token.text, "Decimal")
            return Literal(int(token.text), "Integer")
        if kind == "STRING":
            self.advance()
            return Literal(_unescape(token.text[1:-1]), "String")
        if kind == "DATE":
            self.advance()
            return Literal(token.text[1:], "Date")
        if kind == "DATETIME":
            self.advance()
            return Literal(token.text[1:], "DateTime")
        if kind == "TIME":
            self.advance()
            return Literal(token.text[2:], "Time")
        if kind == "CONSTANT":
            self.advance()
            name = token.text[1:]
            if name[:1] in ("`", "'"):
                name = _unescape(name[1:-1])
            return Constant(name)
        if kind == "VARIABLE":
            self.advance()
            return Variable(token.text[1:])
        if kind == "OP" and token.text == "(":
            self.advance()
            inner = self.parse_binary(0)
            self.expect(")")
            return inner
        if kind == "OP" and token.text == "{":
            self.advance()
            self.expect("}")
            return EmptyLiteral()
        if kind in ("IDENT", "DELIMITED"):
            self.advance()
            name = self._identifier(token)
            if kind == "IDENT" and name in ("true", "false"):
                return Literal(name == "true", "Boolean")
            if self.current.kind == "OP" and self.current.text == "(":
                return FunctionCall(None, name, self.parse_arguments())
            return Member(None, name)
        found = token.text or "end of expression"
        raise self.error(f"unexpected {found!r}")

    @staticmethod
    def _identifier(token: _Token) -> str:
        if token.kind == "DELIMITED":
            return _unescape(token.text[1:-1])
        return token.text


_CALENDAR_UNITS = {
    "year", "years", "month", "months", "week", "weeks", "day", "days",
    "hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds",
}  # fmt: skip


def parse(expression: str) -> Expression:
    """Parse a FHIRPath expression.

    Args:
        expression: the FHIRPath text.

    Returns:
        The root node of the expression's AST.

    Raises:
        FHIRPathSyntaxError: the text is not valid FHIRPath (message gives the position).
    """
    if not isinstance(expression, str):
        raise TypeError("a FHIRPath expression must be a string")
    return _Parser(expression).parse()
