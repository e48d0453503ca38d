"""Flex message selectors: the ``DSSelector`` header of a Consumer's subscribe.

A selector is a JMS 1.1 message selector, the SQL-92 conditional-expression
subset that BlazeDS evaluates, tested against a message's headers.
``compile_selector`` parses the text once and returns a predicate::

    selected = compile_selector("price > 10 AND symbol IN ('ADBE', 'MSFT')")
    selected({"price": 12.5, "symbol": "ADBE"})      # True

The grammar, loosest binding first::

    selector   := or_expr
    or_expr    := and_expr {OR and_expr}
    and_expr   := not_expr {AND not_expr}
    not_expr   := {NOT} predicate
    predicate  := sum [ (= | <> | < | > | <= | >=) sum
                      | IS [NOT] NULL
                      | [NOT] BETWEEN sum AND sum
                      | [NOT] IN '(' string {, string} ')'
                      | [NOT] LIKE string [ESCAPE string] ]
    sum        := product {(+ | -) product}
    product    := factor {(* | /) factor}
    factor     := {+ | -} primary
    primary    := number | string | TRUE | FALSE | NULL | identifier
                | '(' or_expr ')'

Keywords are case-insensitive, identifiers (header names) case-sensitive.
Strings are quoted with ``'``, a quote inside doubled (``'it''s'``); numbers
are exact (``42``) or approximate (``4.2``, ``.5``, ``7.``, ``4E2``).

Values follow JMS: an identifier names a header, which is NULL when missing
or when it holds anything but a str, int, float or bool.  Logic is
three-valued: a comparison involving NULL is UNKNOWN, ``NOT UNKNOWN`` is
UNKNOWN, ``FALSE AND UNKNOWN`` is FALSE, ``TRUE OR UNKNOWN`` is TRUE, and a
message is selected only when the selector is TRUE.  There is no coercion:
comparing values of different types is UNKNOWN, except that ints and floats
compare with each other.  Only numbers are ordered (``<``, ``BETWEEN``...);
strings and booleans compare with ``=`` and ``<>`` only (JMS 1.1).  ``LIKE``
and ``IN`` apply to strings, arithmetic to numbers; anything else is UNKNOWN.

Arithmetic is Java's: int ``/`` int truncates toward zero, and an int result
must fit a Java long.  Where Java would throw, wrap or give an infinity, the
result is UNKNOWN instead: division by zero (int or float), and ints (operands
or results) outside the long range.  Where the text itself has the wrong types (``'a' < 'b'``,
``1 + TRUE``, ``5 LIKE 'x'``, ``'a' = 1``, or a whole selector such as
``price + 1`` that cannot be a boolean), ``compile_selector`` raises
``SelectorError`` rather than select nothing.

Evaluation is safe for untrusted selectors: the text is never executed, only
headers are read, the selector length and parenthesis nesting are bounded, and
chains of AND, OR, + and * are evaluated in loops, so recursion depth is
bounded by the nesting.  ``LIKE`` patterns are matched segment by segment
(never with backtracking ``.*``), in time linear in the pattern times the value.
"""
from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Optional, Union

from amfast.remoting.errors import RemotingError

#: Longest selector text accepted, in characters.
MAX_SELECTOR_LENGTH = 4096
#: Deepest parenthesis nesting accepted.
MAX_NESTING = 64

_LONG_MIN = -(2 ** 63)
_LONG_MAX = 2 ** 63 - 1

Value = Union[None, bool, int, float, str]
Headers = Mapping[str, Any]
Evaluator = Callable[[Headers], Value]
Predicate = Callable[[Headers], bool]


class SelectorError(RemotingError):
    """A selector is not valid.

    ``position`` is the 0-based offset in the selector text where the fault
    was found, or None when the fault is the text as a whole.
    """

    def __init__(self, message: str, position: Optional[int] = None) -> None:
        super().__init__(message)
        self.position = position


def compile_selector(text: Optional[str]) -> Predicate:
    """Parse ``text`` once and return a predicate over a message's headers.

    None or blank text selects every message.  Compiled selectors are cached,
    so the same text returns the same predicate.  Raises ``SelectorError``
    when the text is not a string, is longer than ``MAX_SELECTOR_LENGTH``,
    nests parentheses deeper than ``MAX_NESTING`` or is not a valid selector.
    """
    if text is None:
        return _select_all
    if not isinstance(text, str):
        raise SelectorError(f"A selector must be a string, not {type(text).__name__}.")
    if len(text) > MAX_SELECTOR_LENGTH:
        raise SelectorError(f"A selector may be at most {MAX_SELECTOR_LENGTH} characters long, "
                            f"not {len(text)}.")
    if not text.strip():
        return _select_all
    return _compile(text)


def _select_all(headers: Headers) -> bool:
    """The predicate of an empty selector: every message is selected."""
    return True


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Predicate:
    """Parse a non-blank selector of acceptable length into its predicate."""
    evaluate = _Parser(text).parse()

    def predicate(headers: Headers) -> bool:
        """True when the selector is TRUE for these headers (not FALSE or UNKNOWN)."""
        return evaluate(headers) is True

    return predicate


# -- Values -----------------------------------------------------------------

_HEADER_TYPES = frozenset({str, int, float, bool})


def _is_number(value: Value) -> bool:
    """True for ints and floats, not for booleans."""
    return type(value) is int or type(value) is float


def _is_arithmetic(value: Value) -> bool:
    """True for floats and for ints within a Java long: the values arithmetic accepts."""
    return type(value) is float or (type(value) is int and _LONG_MIN <= value <= _LONG_MAX)


def _equal(left: Value, right: Value) -> Optional[bool]:
    """``left = right``: UNKNOWN with NULL or across types other than int and float."""
    if left is None or right is None:
        return None
    if type(left) is type(right) or (_is_number(left) and _is_number(right)):
        return left == right
    return None


def _order(compare: Callable[[Any, Any], bool], left: Value, right: Value) -> Optional[bool]:
    """An ordering comparison: defined for two numbers, otherwise UNKNOWN."""
    if _is_number(left) and _is_number(right):
        return compare(left, right)
    return None


def _divide(left: Union[int, float], right: Union[int, float]) -> Union[int, float, None]:
    """Java division: ints truncate toward zero; division by zero is UNKNOWN."""
    if right == 0:
        return None
    if type(left) is int and type(right) is int:
        quotient = abs(left) // abs(right)
        return quotient if (left < 0) == (right < 0) else -quotient
    return left / right


def _arithmetic(compute: Callable[[Any, Any], Value]) -> Callable[[Value, Value], Value]:
    """Wrap a binary operation: UNKNOWN unless both operands and the result are arithmetic."""
    def apply(left: Value, right: Value) -> Value:
        if not (_is_arithmetic(left) and _is_arithmetic(right)):
            return None
        result = compute(left, right)
        return result if _is_arithmetic(result) else None
    return apply


_ARITHMETIC = {
    "+": _arithmetic(operator.add),
    "-": _arithmetic(operator.sub),
    "*": _arithmetic(operator.mul),
    "/": _arithmetic(_divide),
}
_ORDERINGS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


# -- Evaluators -------------------------------------------------------------

def _constant(value: Value) -> Evaluator:
    """A literal."""
    def evaluate(headers: Headers) -> Value:
        return value
    return evaluate


def _header(name: str) -> Evaluator:
    """An identifier: the header's value, NULL if missing or of another type."""
    def evaluate(headers: Headers) -> Value:
        value = headers.get(name)
        return value if type(value) in _HEADER_TYPES else None
    return evaluate


def _all_true(operands: list[Evaluator]) -> Evaluator:
    """AND over a chain of operands, three-valued."""
    def evaluate(headers: Headers) -> Value:
        result: Optional[bool] = True
        for operand in operands:
            value = operand(headers)
            if value is False:
                return False
            if value is not True:
                result = None
        return result
    return evaluate


def _any_true(operands: list[Evaluator]) -> Evaluator:
    """OR over a chain of operands, three-valued."""
    def evaluate(headers: Headers) -> Value:
        result: Optional[bool] = False
        for operand in operands:
            value = operand(headers)
            if value is True:
                return True
            if value is not False:
                result = None
        return result
    return evaluate


def _negation(operand: Evaluator, negate: bool) -> Evaluator:
    """One or more NOTs: negate when their count is odd; non-booleans are UNKNOWN."""
    def evaluate(headers: Headers) -> Value:
        value = operand(headers)
        if type(value) is not bool:
            return None
        return value is not negate
    return evaluate


def _sign(operand: Evaluator, negate: bool) -> Evaluator:
    """One or more unary signs: negate when the count of ``-`` is odd."""
    def evaluate(headers: Headers) -> Value:
        value = operand(headers)
        if not _is_arithmetic(value):
            return None
        result = -value if negate else value
        return result if _is_arithmetic(result) else None
    return evaluate


def _chain(first: Evaluator, rest: list[tuple[Callable[[Value, Value], Value], Evaluator]]
           ) -> Evaluator:
    """A left-associative chain of arithmetic operations, evaluated in a loop."""
    def evaluate(headers: Headers) -> Value:
        result = first(headers)
        for apply, operand in rest:
            result = apply(result, operand(headers))
        return result
    return evaluate


def _equality(left: Evaluator, right: Evaluator, negate: bool) -> Evaluator:
    """``=`` or, negated, ``<>``."""
    def evaluate(headers: Headers) -> Value:
        result = _equal(left(headers), right(headers))
        return result if result is None else result is not negate
    return evaluate


def _ordering(compare: Callable[[Any, Any], bool], left: Evaluator, right: Evaluator
              ) -> Evaluator:
    """``<``, ``>``, ``<=`` or ``>=``."""
    def evaluate(headers: Headers) -> Value:
        return _order(compare, left(headers), right(headers))
    return evaluate


def _between(operand: Evaluator, low: Evaluator, high: Evaluator, negate: bool) -> Evaluator:
    """``low <= operand AND operand <= high`` in three-valued logic, or its negation."""
    def evaluate(headers: Headers) -> Value:
        value = operand(headers)
        above = _order(operator.ge, value, low(headers))
        below = _order(operator.le, value, high(headers))
        if above is False or below is False:
            return negate
        if above is None or below is None:
            return None
        return not negate
    return evaluate


def _is_null(operand: Evaluator, negate: bool) -> Evaluator:
    """``IS NULL`` or ``IS NOT NULL``: never UNKNOWN."""
    def evaluate(headers: Headers) -> Value:
        return (operand(headers) is None) is not negate
    return evaluate


def _in(operand: Evaluator, choices: frozenset[str], negate: bool) -> Evaluator:
    """``IN`` or ``NOT IN`` a list of strings; UNKNOWN for other values."""
    def evaluate(headers: Headers) -> Value:
        value = operand(headers)
        if type(value) is not str:
            return None
        return (value in choices) is not negate
    return evaluate


def _like(operand: Evaluator, matches: Callable[[str], bool], negate: bool) -> Evaluator:
    """``LIKE`` or ``NOT LIKE`` a pattern; UNKNOWN for values other than strings."""
    def evaluate(headers: Headers) -> Value:
        value = operand(headers)
        if type(value) is not str:
            return None
        return matches(value) is not negate
    return evaluate


def _like_matcher(pattern: str, escape: Optional[str], position: int) -> Callable[[str], bool]:
    """Compile a LIKE pattern into an anchored, backtracking-free string test.

    ``%`` splits the pattern into segments of fixed length (``_`` is any one
    character).  The first segment must start the value, the last must end
    it, and the others are found in order, each at its leftmost place, which
    is a match whenever any match exists.
    """
    pieces: list[list[str]] = [[]]
    characters = iter(pattern)
    for character in characters:
        if character == escape:
            escaped = next(characters, None)
            if escaped is None:
                raise SelectorError(f"LIKE pattern ends with its escape character at position "
                                    f"{position}", position)
            pieces[-1].append(re.escape(escaped))
        elif character == "%":
            pieces.append([])
        elif character == "_":
            pieces[-1].append(".")
        else:
            pieces[-1].append(re.escape(character))
    segments = [(re.compile("".join(piece), re.DOTALL), len(piece)) for piece in pieces]
    if len(segments) == 1:
        whole = segments[0][0]
        return lambda value: whole.fullmatch(value) is not None

    (head, head_length), *middle, (tail, tail_length) = segments

    def matches(value: str) -> bool:
        end = len(value) - tail_length
        if end < head_length or not head.match(value) or not tail.match(value, end):
            return False
        start = head_length
        for segment, _length in middle:
            found = segment.search(value, start, end)
            if found is None:
                return False
            start = found.end()
        return True

    return matches


# -- Tokens -----------------------------------------------------------------

_KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN", "LIKE", "ESCAPE", "IS", "NULL",
                       "TRUE", "FALSE"})
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+(?:[eE][+-]?[0-9]+)?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<name>(?:[^\W\d]|\$)[\w$]*)
  | (?P<operator><>|<=|>=|[=<>+\-*/(),])
""", re.VERBOSE)
_NUMBER_TAIL = re.compile(r"[\w$.]")


class _Token(NamedTuple):
    """A token: its kind (a keyword, an operator, "number", "string", "name" or
    "end"), its value and its 0-based position in the selector."""
    kind: str
    value: Value
    position: int


def _tokenize(text: str) -> list[_Token]:
    """Split a selector into tokens, ending with an "end" token."""
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None:
            if text[position] == "'":
                raise SelectorError(f"Unterminated string literal at position {position}",
                                    position)
            raise SelectorError(f"Unexpected character {text[position]!r} at position "
                                f"{position}", position)
        kind, source = found.lastgroup, found.group()
        if kind == "number":
            if _NUMBER_TAIL.match(text, found.end()):
                raise SelectorError(f"Malformed number at position {position}", position)
            exact = source.isdigit()
            tokens.append(_Token(kind, int(source) if exact else float(source), position))
        elif kind == "string":
            tokens.append(_Token(kind, source[1:-1].replace("''", "'"), position))
        elif kind == "name":
            keyword = source.upper()
            tokens.append(_Token(keyword, None, position) if keyword in _KEYWORDS
                          else _Token(kind, source, position))
        elif kind == "operator":
            tokens.append(_Token(source, None, position))
        position = found.end()
    tokens.append(_Token("end", None, len(text)))
    return tokens


# -- Parser -----------------------------------------------------------------

# What the text says an expression yields, as far as it can tell: comparisons
# are boolean, literals and arithmetic have their type, and identifiers, NULL
# and parenthesised identifiers may be anything.
_BOOLEAN = "a boolean"
_NUMBER = "a number"
_STRING = "a string"
_ANY = "any value"

_COMPARISONS = frozenset({"=", "<>", "<", ">", "<=", ">="})


class _Node(NamedTuple):
    """A parsed expression: what it yields, how to evaluate it, where it starts."""
    kind: str
    evaluate: Evaluator
    position: int


class _Parser:
    """A recursive-descent parser from selector text to an evaluator."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._index = 0
        self._depth = 0

    def parse(self) -> Evaluator:
        """The evaluator of the whole selector, which must be a boolean expression."""
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise self._unexpected(token, "an operator or the end of the selector")
        return self._operand(node, (_BOOLEAN,), "A selector")

    # Tokens

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _advance(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def _accept(self, kind: str) -> bool:
        """Consume the next token if it is of this kind."""
        if self._peek().kind != kind:
            return False
        self._index += 1
        return True

    def _expect(self, kind: str, expected: str) -> _Token:
        """Consume the next token, which must be of this kind."""
        token = self._advance()
        if token.kind != kind:
            raise self._unexpected(token, expected)
        return token

    @staticmethod
    def _unexpected(token: _Token, expected: str) -> SelectorError:
        found = ("the end of the selector" if token.kind == "end"
                 else repr(token.value) if token.kind in ("number", "string", "name")
                 else repr(token.kind))
        return SelectorError(f"Expected {expected} at position {token.position}, found {found}",
                             token.position)

    @staticmethod
    def _operand(node: _Node, kinds: tuple[str, ...], role: str) -> Evaluator:
        """The node's evaluator, if it may yield one of these kinds (or anything)."""
        if node.kind != _ANY and node.kind not in kinds:
            raise SelectorError(f"{role} at position {node.position} must be "
                                f"{' or '.join(kinds)}, not {node.kind}", node.position)
        return node.evaluate

    # Grammar

    def _or(self) -> _Node:
        operands = [self._and()]
        while self._accept("OR"):
            operands.append(self._and())
        if len(operands) == 1:
            return operands[0]
        evaluators = [self._operand(node, (_BOOLEAN,), "An operand of OR") for node in operands]
        return _Node(_BOOLEAN, _any_true(evaluators), operands[0].position)

    def _and(self) -> _Node:
        operands = [self._not()]
        while self._accept("AND"):
            operands.append(self._not())
        if len(operands) == 1:
            return operands[0]
        evaluators = [self._operand(node, (_BOOLEAN,), "An operand of AND") for node in operands]
        return _Node(_BOOLEAN, _all_true(evaluators), operands[0].position)

    def _not(self) -> _Node:
        start = self._peek().position
        count = 0
        while self._accept("NOT"):
            count += 1
        node = self._predicate()
        if not count:
            return node
        operand = self._operand(node, (_BOOLEAN,), "The operand of NOT")
        return _Node(_BOOLEAN, _negation(operand, count % 2 == 1), start)

    def _predicate(self) -> _Node:
        left = self._sum()
        token = self._peek()
        if token.kind in _COMPARISONS:
            self._advance()
            return self._comparison(token.kind, left, self._sum())
        if self._accept("IS"):
            negate = self._accept("NOT")
            self._expect("NULL", "NULL")
            return _Node(_BOOLEAN, _is_null(left.evaluate, negate), left.position)
        negate = self._accept("NOT")
        if self._accept("BETWEEN"):
            role = "An operand of BETWEEN"
            low = self._sum()
            self._expect("AND", "AND")
            high = self._sum()
            evaluate = _between(*(self._operand(node, (_NUMBER,), role)
                                  for node in (left, low, high)), negate)
            return _Node(_BOOLEAN, evaluate, left.position)
        if self._accept("IN"):
            operand = self._operand(left, (_STRING,), "The operand of IN")
            return _Node(_BOOLEAN, _in(operand, self._string_list(), negate), left.position)
        if self._accept("LIKE"):
            operand = self._operand(left, (_STRING,), "The operand of LIKE")
            pattern = self._expect("string", "a pattern string")
            escape = None
            if self._accept("ESCAPE"):
                token = self._expect("string", "an escape string")
                escape = token.value
                if len(escape) != 1:
                    raise SelectorError(f"The ESCAPE string at position {token.position} must "
                                        f"be one character", token.position)
            matches = _like_matcher(pattern.value, escape, pattern.position)
            return _Node(_BOOLEAN, _like(operand, matches, negate), left.position)
        if negate:
            raise self._unexpected(self._peek(), "BETWEEN, IN or LIKE after NOT")
        return left

    def _comparison(self, kind: str, left: _Node, right: _Node) -> _Node:
        """``left kind right`` for a comparison operator."""
        if kind in ("=", "<>"):
            if _ANY not in (left.kind, right.kind) and left.kind != right.kind:
                raise SelectorError(f"Cannot compare {left.kind} with {right.kind} at position "
                                    f"{left.position}", left.position)
            return _Node(_BOOLEAN, _equality(left.evaluate, right.evaluate, kind == "<>"),
                         left.position)
        role = f"An operand of {kind}"
        evaluate = _ordering(_ORDERINGS[kind], self._operand(left, (_NUMBER,), role),
                             self._operand(right, (_NUMBER,), role))
        return _Node(_BOOLEAN, evaluate, left.position)

    def _string_list(self) -> frozenset[str]:
        """``'(' string {, string} ')'``, the list of IN."""
        self._expect("(", "'(' after IN")
        choices = {self._expect("string", "a string").value}
        while self._accept(","):
            choices.add(self._expect("string", "a string").value)
        self._expect(")", "',' or ')'")
        return frozenset(choices)

    def _sum(self) -> _Node:
        first = self._product()
        rest = []
        while self._peek().kind in ("+", "-"):
            rest.append((self._advance().kind, self._product()))
        return self._arithmetic(first, rest)

    def _product(self) -> _Node:
        first = self._factor()
        rest = []
        while self._peek().kind in ("*", "/"):
            rest.append((self._advance().kind, self._factor()))
        return self._arithmetic(first, rest)

    def _arithmetic(self, first: _Node, rest: list[tuple[str, _Node]]) -> _Node:
        """A chain of arithmetic operations, or ``first`` alone."""
        if not rest:
            return first
        evaluate = _chain(self._operand(first, (_NUMBER,), f"An operand of {rest[0][0]}"),
                          [(_ARITHMETIC[kind], self._operand(node, (_NUMBER,),
                                                             f"An operand of {kind}"))
                           for kind, node in rest])
        return _Node(_NUMBER, evaluate, first.position)

    def _factor(self) -> _Node:
        start = self._peek().position
        signs = []
        while self._peek().kind in ("+", "-"):
            signs.append(self._advance().kind)
        node = self._primary()
        if not signs:
            return node
        operand = self._operand(node, (_NUMBER,), "The operand of a sign")
        return _Node(_NUMBER, _sign(operand, signs.count("-") % 2 == 1), start)

    def _primary(self) -> _Node:
        token = self._advance()
        if token.kind == "number":
            return _Node(_NUMBER, _constant(token.value), token.position)
        if token.kind == "string":
            return _Node(_STRING, _constant(token.value), token.position)
        if token.kind in ("TRUE", "FALSE"):
            return _Node(_BOOLEAN, _constant(token.kind == "TRUE"), token.position)
        if token.kind == "NULL":
            return _Node(_ANY, _constant(None), token.position)
        if token.kind == "name":
            return _Node(_ANY, _header(token.value), token.position)
        if token.kind == "(":
            if self._depth == MAX_NESTING:
                raise SelectorError(f"Parentheses nest deeper than {MAX_NESTING} levels at "
                                    f"position {token.position}", token.position)
            self._depth += 1
            node = self._or()
            self._expect(")", "')'")
            self._depth -= 1
            return node
        raise self._unexpected(token, "an operand")
