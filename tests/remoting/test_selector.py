"""Message selectors (DSSelector): JMS 1.1 syntax and three-valued semantics."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amfast.remoting.errors import RemotingError
from amfast.remoting.selector import (MAX_NESTING, MAX_SELECTOR_LENGTH, SelectorError,
                                      compile_selector)

HEADERS = {
    "i": 7, "j": -3, "zero": 0, "f": 2.5, "g": -0.5, "big": 2 ** 70,
    "s": "hello", "q": "it's", "empty": "", "pct": "50%", "under": "a_b", "nl": "a\nb",
    "t": True, "fa": False, "n": None, "Name": "upper", "lst": [1, 2], "obj": object(),
}


def selects(text: str, headers: dict = HEADERS) -> bool:
    return compile_selector(text)(headers)


def table(*rows: tuple[str, bool]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("text, expected", rows, ids=[row[0] for row in rows])


@table(
    ("i = 7", True), ("i = 8", False), ("i <> 8", True), ("i <> 7", False),
    ("i < 8", True), ("i < 7", False), ("i > 6", True), ("i > 7", False),
    ("i <= 7", True), ("i <= 6", False), ("i >= 7", True), ("i >= 8", False),
    ("f = 2.5", True), ("f > 2", True), ("f < 3", True), ("j < g", True),
    ("i = 7.0", True), ("7.0 = i", True), ("zero = 0.0", True), ("zero = -0.0", True),
    ("s = 'hello'", True), ("s = 'Hello'", False), ("s <> 'world'", True),
    ("'hello' = s", True), ("empty = ''", True), ("q = 'it''s'", True),
    ("t = TRUE", True), ("t <> FALSE", True), ("fa = FALSE", True), ("t = fa", False),
    ("TRUE = TRUE", True), ("TRUE <> FALSE", True), ("i = i", True), ("s = s", True),
)
def test_comparisons(text: str, expected: bool) -> None:
    assert selects(text) is expected


@table(
    ("1 + 2 = 3", True), ("i - 10 = j", True), ("i * 2 = 14", True), ("f * 2 = 5", True),
    ("i / 2 = 3", True), ("-i / 2 = -3", True), ("i / -2 = -3", True), ("j / 2 = -1", True),
    ("i / 2.0 = 3.5", True), ("f / 2 = 1.25", True), ("1 / 4 = 0", True),
    ("2 + 3 * 4 = 14", True), ("(2 + 3) * 4 = 20", True), ("2 * 3 + 4 = 10", True),
    ("10 - 4 - 3 = 3", True), ("64 / 4 / 2 = 8", True), ("8 / 2 * 4 = 16", True),
    ("10 - 2 * 3 = 4", True), ("-2 * -3 = 6", True), ("- -i = 7", True), ("-(-i) = 7", True),
    ("+i = 7", True), ("-i = -7", True), ("- - - i = -7", True), ("1 - -1 = 2", True),
    ("1 + +1 = 2", True), ("i + f = 9.5", True), ("-f = -2.5", True),
    ("9223372036854775807 + 0 = 9223372036854775807", True),
    ("9223372036854775807 + 1 > 0", False), ("9223372036854775807 + 1 <= 0", False),
    ("big = 1180591620717411303424", True), ("big > i", True), ("big + 0 > 0", False),
    ("i / zero = 0", False), ("i / zero <> 0", False), ("f / 0.0 = 0", False),
    ("(i / zero) IS NULL", True), ("s + 1 = 1", False), ("(s + 1) IS NULL", True),
    ("t + 1 = 2", False), ("n + 1 IS NULL", True), ("-s IS NULL", True),
)
def test_arithmetic(text: str, expected: bool) -> None:
    assert selects(text) is expected


@table(
    # NOT binds tighter than AND, which binds tighter than OR.
    ("TRUE OR TRUE AND FALSE", True), ("(TRUE OR TRUE) AND FALSE", False),
    ("FALSE AND FALSE OR TRUE", True), ("FALSE AND (FALSE OR TRUE)", False),
    ("NOT FALSE AND FALSE", False), ("NOT (FALSE AND FALSE)", True),
    ("NOT TRUE OR TRUE", True), ("NOT (TRUE OR TRUE)", False),
    ("NOT i = 8", True), ("NOT i = 7", False), ("NOT i = 7 OR s = 'hello'", True),
    ("NOT NOT TRUE", True), ("NOT NOT NOT TRUE", False), ("NOT NOT t", True),
    ("i = 7 AND s = 'hello'", True), ("i = 7 AND s = 'x'", False),
    ("i = 1 OR s = 'hello'", True), ("i = 1 OR s = 'x'", False),
    ("i = 1 OR i = 2 OR i = 7", True), ("i > 0 AND i < 10 AND f > 2 AND s <> ''", True),
    ("t", True), ("fa", False), ("NOT fa", True), ("t AND NOT fa", True), ("(t)", True),
    ("(i > 5) = TRUE", True), ("(i > 5) <> (f > 5)", True), ("TRUE", True), ("FALSE", False),
)
def test_logic_and_precedence(text: str, expected: bool) -> None:
    assert selects(text) is expected


# Three-valued logic: UNKNOWN is never selected, and NOT UNKNOWN is UNKNOWN.
@table(
    ("missing = 1", False), ("missing <> 1", False), ("NOT missing = 1", False),
    ("NOT missing <> 1", False), ("n = n", False), ("n <> n", False),
    ("missing > 0", False), ("NOT missing > 0", False), ("NULL = NULL", False),
    ("missing IS NULL", True), ("n IS NULL", True), ("missing IS NOT NULL", False),
    ("i IS NOT NULL", True), ("i IS NULL", False), ("NOT i IS NULL", True),
    ("NULL IS NULL", True), ("(i + missing) IS NULL", True),
    ("missing = 1 AND FALSE", False), ("NOT (missing = 1 AND FALSE)", True),
    ("missing = 1 AND TRUE", False), ("NOT (missing = 1 AND TRUE)", False),
    ("missing = 1 OR TRUE", True), ("NOT (missing = 1 OR TRUE)", False),
    ("missing = 1 OR FALSE", False), ("NOT (missing = 1 OR FALSE)", False),
    ("(missing = 1) IS NULL", True), ("(missing = 1 OR FALSE) IS NULL", True),
    ("(missing = 1 AND FALSE) IS NULL", False), ("missing", False), ("NOT missing", False),
    ("NULL", False), ("NOT NULL", False),
    # Headers of other types read as NULL.
    ("lst IS NULL", True), ("obj IS NULL", True), ("lst = 1", False),
    # Identifiers are case-sensitive.
    ("Name = 'upper'", True), ("name = 'upper'", False), ("name IS NULL", True),
)
def test_null_semantics(text: str, expected: bool) -> None:
    assert selects(text) is expected


# No coercion: values of different types are UNKNOWN when compared, and only numbers
# are ordered; booleans and strings compare with = and <> only.
@table(
    ("s = 1", False), ("NOT s = 1", False), ("s <> 1", False), ("i = '7'", False),
    ("NOT i = '7'", False), ("t = 1", False), ("NOT t = 1", False), ("fa = 0", False),
    ("NOT fa = 0", False), ("t = 'TRUE'", False), ("s > i", False), ("NOT s > i", False),
    ("t > fa", False), ("NOT t > fa", False), ("s < q", False), ("NOT s < q", False),
    ("s BETWEEN empty AND q", False), ("NOT s BETWEEN empty AND q", False),
    ("i", False), ("NOT i", False), ("s", False), ("t AND s", False), ("fa OR s", False),
    ("NOT (fa OR s)", False), ("(fa AND s) IS NULL", False), ("(t AND s) IS NULL", True),
)
def test_types_do_not_mix(text: str, expected: bool) -> None:
    assert selects(text) is expected


@table(
    ("s LIKE 'hello'", True), ("s LIKE 'hell'", False), ("s LIKE 'hello!'", False),
    ("s LIKE 'h%'", True), ("s LIKE '%o'", True), ("s LIKE '%ll%'", True),
    ("s LIKE '%'", True), ("empty LIKE '%'", True), ("empty LIKE '_'", False),
    ("s LIKE 'h_llo'", True), ("s LIKE '_____'", True), ("s LIKE '____'", False),
    ("s LIKE '______'", False), ("s LIKE 'h%o'", True), ("s LIKE 'h%l%l%o'", True),
    ("s LIKE 'h%l%l%l%o'", False), ("s LIKE '%l_o'", True), ("s LIKE '_%_'", True),
    ("s LIKE 'H%'", False), ("s LIKE 'e%'", False), ("s LIKE '%e'", False),
    ("s LIKE 'hel%lo'", True), ("s LIKE 'hell%llo'", False), ("s LIKE '%%%'", True),
    ("s NOT LIKE 'h%'", False), ("s NOT LIKE 'x%'", True), ("NOT s LIKE 'x%'", True),
    ("nl LIKE 'a_b'", True), ("nl LIKE 'a%'", True), ("q LIKE 'it''_'", True),
    ("s LIKE 'h.*'", False), ("s LIKE '[h]ello'", False), ("pct LIKE '50%'", True),
    # ESCAPE makes the next %, _ or escape character literal.
    ("pct LIKE '50!%' ESCAPE '!'", True), ("s LIKE 'hell!%' ESCAPE '!'", False),
    ("under LIKE 'a!_b' ESCAPE '!'", True), ("under LIKE 'a\\_b' ESCAPE '\\'", True),
    ("s LIKE 'h!_llo' ESCAPE '!'", False), ("pct LIKE '%!%' escape '!'", True),
    ("under LIKE '%!_%' ESCAPE '!'", True), ("s LIKE '%!_%' ESCAPE '!'", False),
    ("pct LIKE '50%%' ESCAPE '%'", True), ("pct NOT LIKE '50!%' ESCAPE '!'", False),
    # LIKE applies to strings only.
    ("missing LIKE '%'", False), ("missing NOT LIKE '%'", False), ("i LIKE '7'", False),
    ("i NOT LIKE '7'", False), ("t LIKE '%'", False), ("(missing LIKE '%') IS NULL", True),
)
def test_like(text: str, expected: bool) -> None:
    assert selects(text) is expected


@table(
    ("s IN ('hello')", True), ("s IN ('a', 'hello', 'b')", True), ("s IN ('a', 'b')", False),
    ("s NOT IN ('a', 'b')", True), ("s NOT IN ('a', 'hello')", False),
    ("NOT s IN ('a', 'b')", True), ("q IN ('it''s')", True), ("empty IN ('')", True),
    ("s IN ('HELLO')", False), ("missing IN ('a')", False), ("missing NOT IN ('a')", False),
    ("i IN ('7')", False), ("i NOT IN ('7')", False), ("(i IN ('7')) IS NULL", True),
    ("i BETWEEN 1 AND 10", True), ("i BETWEEN 7 AND 7", True), ("i BETWEEN 8 AND 10", False),
    ("i BETWEEN 10 AND 1", False), ("f BETWEEN 2 AND 3", True), ("i BETWEEN 6.5 AND 7.5", True),
    ("i NOT BETWEEN 1 AND 10", False), ("i NOT BETWEEN 8 AND 10", True),
    ("NOT i BETWEEN 8 AND 10", True), ("i BETWEEN j AND i + 1", True),
    ("i BETWEEN 1 + 1 AND 2 * 5", True), ("i BETWEEN 1 AND 10 AND s = 'hello'", True),
    ("i BETWEEN 1 AND 5 OR s = 'hello'", True), ("missing BETWEEN 1 AND 10", False),
    ("missing NOT BETWEEN 1 AND 10", False), ("i BETWEEN missing AND 10", False),
    ("i NOT BETWEEN missing AND 10", False),
    # FALSE AND UNKNOWN is FALSE, so its negation is TRUE.
    ("i BETWEEN missing AND 5", False), ("i NOT BETWEEN missing AND 5", True),
    ("i NOT BETWEEN 8 AND missing", True), ("s BETWEEN 1 AND 10", False),
)
def test_in_and_between(text: str, expected: bool) -> None:
    assert selects(text) is expected


@table(
    ("i = 7", True), ("i = 07", True), ("f = 2.5", True), ("f = 2.50", True),
    ("f = 25E-1", True), ("f = 0.25e1", True), ("f = 0.025E+2", True), ("g = -.5", True),
    ("i = 7.", True), ("i = 7e0", True), ("i = 0.7E1", True), ("1e3 = 1000", True),
    ("1E400 > 1e308", True), ("0.1 + 0.2 = 0.3", False), (".5 * 2 = 1", True),
    ("i = 7 and s = 'hello'", True), ("i = 8 Or s = 'hello'", True), ("not i = 8", True),
    ("i between 1 and 10", True), ("s in ('hello')", True), ("s like 'h%'", True),
    ("s nOt LiKe 'x%'", True), ("n is null", True), ("i Is NoT nUlL", True),
    ("t = true", True), ("fa = False", True), ("s = 'AND'", False),
    ("under LIKE 'a!_b' eScApE '!'", True),
    ("\ti\n=\r\n7\f", True), ("(i=7)AND(s='hello')", True), ("i=7 AND s='hello'", True),
    ("$x IS NULL", True), ("_x IS NULL", True), ("x1 IS NULL", True), ("é IS NULL", True),
    ("s = 'caf\u00e9 \u00fc'", False), ("s <> ' hello'", True),
)
def test_literals_keywords_and_identifiers(text: str, expected: bool) -> None:
    assert selects(text) is expected


def test_identifiers_read_headers() -> None:
    headers = {"$x": 1, "_x": 2, "x1": 3, "é": 4, "AND_x": 5, "nullable": 6}
    assert selects("$x = 1 AND _x = 2 AND x1 = 3 AND é = 4", headers)
    assert selects("AND_x = 5 AND nullable = 6", headers)


@pytest.mark.parametrize("text", [None, "", " ", "\t\n "])
def test_empty_selector_selects_everything(text: str | None) -> None:
    predicate = compile_selector(text)
    assert predicate({}) is True
    assert predicate(HEADERS) is True


def test_compiled_selectors_are_cached() -> None:
    assert compile_selector("i = 7") is compile_selector("i = 7")
    assert compile_selector("i = 7") is not compile_selector("i = 8")


def test_predicate_accepts_any_mapping_and_returns_bool() -> None:
    predicate = compile_selector("i > 1")
    assert predicate({"i": 2}) is True
    assert predicate({"i": 0}) is False
    assert predicate({}) is False


@pytest.mark.parametrize("text, position", [
    ("s = 'abc", 4),                        # unterminated string
    ("'abc", 0),
    ("i = ", 4),                            # missing operand
    ("= 1", 0),
    ("i = 1 AND", 9),
    ("i = 1 OR OR i = 2", 9),
    ("NOT", 3),
    ("i +", 3),
    ("i * / 2", 4),
    ("i = 1 2", 6),                         # missing operator
    ("i j", 2),
    ("i = 1 = 1", 6),
    ("i != 1", 2),                          # unknown tokens
    ("i == 1", 3),
    ("i = 1 && t", 6),
    ("i = #", 4),
    ("s = \"x\"", 4),
    ("i = 1;", 5),
    ("i % 2 = 1", 2),
    ("a.b = 1", 1),
    ("i = 1.2.3", 4),                       # malformed numbers
    ("i = 1e", 4),
    ("i = 12abc", 4),
    ("i=7AND s='hello'", 2),
    ("(i = 1", 6),                          # parentheses
    ("i = 1)", 5),
    ("()", 1),
    ("s IN 'a'", 5),                        # IN lists
    ("s IN ()", 6),
    ("s IN ('a',)", 10),
    ("s IN ('a' 'b')", 10),
    ("s IN (1, 2)", 6),
    ("s IN (t)", 6),
    ("s LIKE t", 7),                        # LIKE patterns
    ("s LIKE 'a' ESCAPE", 17),
    ("s LIKE 'a' ESCAPE ''", 18),
    ("s LIKE 'a' ESCAPE '!!'", 18),
    ("s LIKE 'a!' ESCAPE '!'", 7),
    ("i BETWEEN 1", 11),                    # BETWEEN
    ("i BETWEEN 1 OR 2", 12),
    ("i NOT = 1", 6),                       # NOT where it cannot go
    ("i NOT NULL", 6),
    ("i IS 1", 5),
    ("i IS NOT", 8),
    ("AND = 1", 0),                         # keywords are not identifiers
    ("null = 1 OR like = 2", 12),
    ("i = 1 ESCAPE '!'", 6),
    ("1 + 2", 0),                           # a selector must be a boolean
    ("'abc'", 0),
    ("(i + 1)", 1),
    ("i = 1 AND 2", 10),
    ("'x' OR t", 0),
    ("NOT 5", 4),
    ("'a' < 'b'", 0),                       # types that cannot be ordered or combined
    ("i < 'b'", 4),
    ("TRUE > FALSE", 0),
    ("(i = 1) < 2", 1),
    ("i BETWEEN 'a' AND 'b'", 10),
    ("'a' BETWEEN 1 AND 2", 0),
    ("TRUE = 1", 0),
    ("'1' = 1", 0),
    ("'t' <> TRUE", 0),
    ("i + 'a' = 1", 4),
    ("TRUE + 1 = 2", 0),
    ("-'a' = 1", 1),
    ("-TRUE IS NULL", 1),
    ("(i = 1) * 2 = 2", 1),
    ("5 LIKE '5'", 0),
    ("TRUE IN ('TRUE')", 0),
    ("i + 1 LIKE '8'", 0),
])
def test_invalid_selectors_raise(text: str, position: int) -> None:
    with pytest.raises(SelectorError) as caught:
        compile_selector(text)
    assert caught.value.position == position
    assert f"position {position}" in str(caught.value)


def test_error_messages_name_the_problem() -> None:
    with pytest.raises(SelectorError, match=r"Unterminated string literal at position 4"):
        compile_selector("s = 'abc")
    with pytest.raises(SelectorError, match=r"Expected an operand at position 4, found the end"):
        compile_selector("i = ")
    with pytest.raises(SelectorError, match=r"Unexpected character '!' at position 2"):
        compile_selector("i != 1")
    with pytest.raises(SelectorError, match=r"must be a boolean, not a number"):
        compile_selector("1 + 2")


def test_selector_error_is_a_remoting_error() -> None:
    assert issubclass(SelectorError, RemotingError)


@pytest.mark.parametrize("text", [5, b"i = 1", ["i = 1"]])
def test_non_string_selectors_raise(text: object) -> None:
    with pytest.raises(SelectorError, match="must be a string"):
        compile_selector(text)  # type: ignore[arg-type]


def test_length_limit() -> None:
    longest = "i = 7" + " " * (MAX_SELECTOR_LENGTH - 5)
    assert selects(longest)
    with pytest.raises(SelectorError, match=str(MAX_SELECTOR_LENGTH)) as caught:
        compile_selector(longest + " ")
    assert caught.value.position is None
    with pytest.raises(SelectorError):
        compile_selector(" " * (MAX_SELECTOR_LENGTH + 1))


def test_nesting_limit() -> None:
    deepest = "(" * MAX_NESTING + "i = 7" + ")" * MAX_NESTING
    assert selects(deepest)
    assert selects("(" * MAX_NESTING + "NOT -i = -8" + ")" * MAX_NESTING)
    assert selects(" AND ".join([deepest] * 10))
    too_deep = "(" + deepest + ")"
    with pytest.raises(SelectorError, match=f"deeper than {MAX_NESTING}") as caught:
        compile_selector(too_deep)
    assert caught.value.position == MAX_NESTING
    with pytest.raises(SelectorError):
        compile_selector("(" * 2000)


@pytest.mark.parametrize("text", [
    " + ".join(["i"] * 800) + " = 5600",
    " * ".join(["1"] * 1000) + " = 1",
    " AND ".join(["t"] * 600),
    " OR ".join(["fa"] * 600) + " OR t",
    "NOT " * 999 + "fa",
    "-" * 4000 + "i = 7",
    "- " * 2000 + "i = 7",
])
def test_long_chains_do_not_recurse(text: str) -> None:
    assert len(text) <= MAX_SELECTOR_LENGTH
    assert selects(text)


def test_like_does_not_backtrack() -> None:
    pattern = "%a" * 20 + "%b"
    assert not selects(f"s LIKE '{pattern}'", {"s": "a" * 3000})
    assert selects(f"s LIKE '{pattern}'", {"s": "a" * 3000 + "b"})


def test_three_values_partition() -> None:
    """For a boolean expression exactly one of B, NOT (B) and (B) IS NULL is selected."""
    for text in ["i = 7", "missing = 7", "i = 8", "s LIKE 'x%' OR missing > 1",
                 "i BETWEEN missing AND 5", "missing IN ('a') AND FALSE"]:
        results = [selects(text), selects(f"NOT ({text})"), selects(f"({text}) IS NULL")]
        assert results.count(True) == 1, text


# -- Random selectors and headers -----------------------------------------------------------

NAMES = ["a", "b", "s", "t", "missing"]
HEADER_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)
RANDOM_HEADERS = st.dictionaries(st.sampled_from(NAMES), HEADER_VALUES)
TOKENS = [
    "a", "b", "s", "t", "missing", "'x'", "'%y_'", "'it''s'", "'!'", "1", "0", "2.5", ".5",
    "1e3", "9223372036854775807", "(", ")", "=", "<>", "<", ">", "<=", ">=", "+", "-", "*",
    "/", "AND", "or", "Not", "BETWEEN", "IN", "LIKE", "ESCAPE", "IS", "NULL", "TRUE", "false",
    ",", "'", "!", "%", ".",
]
TOKEN_SOUP = st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join)


def _binary(operands: st.SearchStrategy[str], operators: list[str]) -> st.SearchStrategy[str]:
    return st.tuples(operands, st.sampled_from(operators), operands).map(
        lambda parts: f"({parts[0]} {parts[1]} {parts[2]})")


NUMERIC = st.recursive(
    st.sampled_from(["a", "b", "1", "2.5", "-3", "NULL", "0"]),
    lambda inner: _binary(inner, ["+", "-", "*", "/"]), max_leaves=6)
STRING = st.sampled_from(["s", "'x'", "'it''s'", "NULL"])
COMPARISON = st.one_of(
    _binary(NUMERIC, ["=", "<>", "<", ">", "<=", ">="]),
    _binary(STRING, ["=", "<>"]),
    st.builds("{} LIKE '{}'".format, STRING, st.sampled_from(["%", "x_", "%s%", "_"])),
    st.builds("{} NOT IN ('x', 'y')".format, STRING),
    st.builds("{} BETWEEN {} AND {}".format, NUMERIC, NUMERIC, NUMERIC),
    st.builds("{} IS NOT NULL".format, NUMERIC),
    st.sampled_from(["t = TRUE", "TRUE", "FALSE", "t <> FALSE"]),
)
BOOLEAN = st.recursive(
    COMPARISON,
    lambda inner: st.one_of(inner.map("NOT ({})".format), _binary(inner, ["AND", "OR"])),
    max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), TOKEN_SOUP), RANDOM_HEADERS)
def test_random_text_compiles_or_raises_selector_error(text: str, headers: dict) -> None:
    try:
        predicate = compile_selector(text)
    except SelectorError:
        return
    assert predicate(headers) in (True, False)


@settings(max_examples=300, deadline=None)
@given(BOOLEAN, RANDOM_HEADERS)
def test_random_valid_selectors_are_three_valued(text: str, headers: dict) -> None:
    results = [compile_selector(form)(headers)
               for form in (text, f"NOT ({text})", f"({text}) IS NULL")]
    assert all(type(result) is bool for result in results)
    assert results.count(True) == 1
