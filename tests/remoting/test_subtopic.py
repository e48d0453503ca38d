"""Subtopics (DSSubtopic): BlazeDS's SubtopicTest cases as behaviour, and more."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amfast.remoting.errors import RemotingError
from amfast.remoting.subtopic import (SubtopicError, is_wildcard, subtopic_matches,
                                      validate_subtopic)


@pytest.mark.parametrize("pattern, subtopic, expected", [
    # BlazeDS SubtopicTest, testMatches1 to testMatches10.
    ("foo", "foo", True),
    ("foo", "bar", False),
    ("foo.bar", "foo.bar", True),
    ("*", "foo.bar.foo", True),
    ("foo.*", "foo.bar", True),
    ("foo.*", "foo.bar.foo", True),
    ("foo.bar.*", "foo.bar.foo", True),
    ("foo.*", "foo", False),
    # The examples of BlazeDS's Subtopic.matches.
    ("chatrooms.*", "chatrooms.lobby", True),
    ("chatrooms.*", "chatrooms.us.ca", True),
    ("chatrooms.*", "chatrooms", False),
    ("chatrooms.*.ca", "chatrooms.us.ca", True),
    ("chatrooms.*.ca", "chatrooms.us.ma", False),
    # A "*" token matches exactly one token, a trailing "*" one or more.
    ("foo.*.baz", "foo.bar.baz", True),
    ("foo.*.baz", "foo.bar.qux", False),
    ("foo.*.baz", "foo.baz", False),
    ("foo.*.baz", "foo.bar.bar.baz", False),
    ("foo.*.baz", "foo.bar.baz.qux", False),
    ("*.bar", "foo.bar", True),
    ("*.bar", "bar", False),
    ("*.bar", "foo.foo.bar", False),
    ("*.bar", "foo.baz", False),
    ("*.*", "foo", False),
    ("*.*", "foo.bar", True),
    ("*.*", "foo.bar.baz", True),
    ("foo.*.*", "foo.bar", False),
    ("foo.*.*", "foo.bar.baz", True),
    ("foo.*.*", "foo.bar.baz.qux", True),
    ("foo.bar.*", "foo.bar", False),
    ("foo.bar.*", "foo.baz.qux", False),
    ("foo.*", "bar.foo", False),
    ("*", "foo", True),
    ("*", "x.y.z.w.v", True),
    # Without wildcards, subtopics match exactly, token by token and case-sensitively.
    ("foo", "foo.bar", False),
    ("foo.bar", "foo", False),
    ("foo.bar", "foo.baz", False),
    ("Foo", "foo", False),
    ("foo bar", "foo bar", True),
    ("foo-bar", "foo-bar", True),
])
def test_matches(pattern: str, subtopic: str, expected: bool) -> None:
    assert subtopic_matches(pattern, subtopic) is expected


@pytest.mark.parametrize("pattern, subtopic, separator, expected", [
    ("chat/*", "chat/us/ca", "/", True),
    ("chat/*/ca", "chat/us/ca", "/", True),
    ("chat/*/ca", "chat/us/ma", "/", False),
    ("chat/*", "chat", "/", False),
    ("*", "a/b", "/", True),
    # With another separator "." is an ordinary character (cf. BlazeDS testMatches4).
    ("foo.bar", "foo.bar", ":", True),
    ("foo.bar", "foo:bar", ":", False),
    ("foo:*", "foo:bar.baz", ":", True),
    ("foo:*", "foo.bar", ":", False),
    # Separators may be longer than one character.
    ("a::*", "a::b::c", "::", True),
    ("a::*::c", "a::b::c", "::", True),
    ("a::*", "a:b", "::", False),
    ("a:b", "a:b", "::", True),
])
def test_matches_with_custom_separator(pattern: str, subtopic: str, separator: str,
                                       expected: bool) -> None:
    assert subtopic_matches(pattern, subtopic, separator) is expected


@pytest.mark.parametrize("subtopic, separator, expected", [
    ("foo", ".", False),
    ("foo.bar", ".", False),
    ("*", ".", True),
    ("foo.*", ".", True),
    ("*.foo", ".", True),
    ("foo.*.bar", ".", True),
    ("a/*", "/", True),
    ("a/b", "/", False),
    ("a.b", "/", False),
])
def test_is_wildcard(subtopic: str, separator: str, expected: bool) -> None:
    assert is_wildcard(subtopic, separator) is expected


VALID = ["foo", "foo.bar", "*", "foo.*", "*.bar", "foo.*.baz", "*.*", "a b.c-d", "é.ü"]
INVALID = [
    "",              # empty
    ".",             # empty tokens
    "..",
    "foo.",
    ".foo",
    "foo..bar",
    "*.",
    ".*",
    "fo*",           # "*" inside a token
    "*oo",
    "foo.b*r",
    "foo.**",
    "**",
    "foo.*x.bar",
]


@pytest.mark.parametrize("subtopic", VALID)
def test_valid_subtopics(subtopic: str) -> None:
    assert validate_subtopic(subtopic) is None


@pytest.mark.parametrize("subtopic", INVALID)
def test_invalid_subtopics_raise_everywhere(subtopic: str) -> None:
    with pytest.raises(SubtopicError, match="Invalid subtopic"):
        validate_subtopic(subtopic)
    with pytest.raises(SubtopicError):
        is_wildcard(subtopic)
    with pytest.raises(SubtopicError):
        subtopic_matches(subtopic, "foo")
    with pytest.raises(SubtopicError):
        subtopic_matches("*", subtopic)


@pytest.mark.parametrize("subtopic, separator", [
    ("a//b", "/"), ("/a", "/"), ("a/", "/"), ("a/b*", "/"), ("a.*", "/"),
    ("a::", "::"), ("a::::b", "::"), ("::a", "::"),
])
def test_invalid_subtopics_with_custom_separator(subtopic: str, separator: str) -> None:
    with pytest.raises(SubtopicError):
        validate_subtopic(subtopic, separator)


@pytest.mark.parametrize("separator", ["", "*", "a*", "**"])
def test_invalid_separators_raise(separator: str) -> None:
    with pytest.raises(SubtopicError, match="separator"):
        validate_subtopic("foo", separator)
    with pytest.raises(SubtopicError, match="separator"):
        subtopic_matches("foo", "foo", separator)


@pytest.mark.parametrize("value", [None, 5, b"foo", ["foo"]])
def test_non_strings_raise(value: object) -> None:
    with pytest.raises(SubtopicError, match="must be a string"):
        validate_subtopic(value)  # type: ignore[arg-type]
    with pytest.raises(SubtopicError, match="must be a string"):
        subtopic_matches(value, "foo")  # type: ignore[arg-type]
    with pytest.raises(SubtopicError, match="must be a string"):
        subtopic_matches("foo", value)  # type: ignore[arg-type]
    with pytest.raises(SubtopicError, match="must be a string"):
        validate_subtopic("foo", value)  # type: ignore[arg-type]


@pytest.mark.parametrize("subtopic", ["*", "foo.*", "*.bar", "foo.*.bar"])
def test_messages_cannot_be_sent_to_wildcards(subtopic: str) -> None:
    with pytest.raises(SubtopicError, match="wildcard"):
        subtopic_matches("*", subtopic)


def test_subtopic_error_is_a_remoting_error() -> None:
    assert issubclass(SubtopicError, RemotingError)


def test_repeated_matching_is_stable() -> None:
    for _ in range(3):
        assert subtopic_matches("foo.*", "foo.bar")
        assert not subtopic_matches("foo.*", "foo")


# -- Random subtopics, checked against a regular expression ---------------------------------

TOKEN = st.text(st.characters(blacklist_characters="*./", blacklist_categories=("Cs",)),
                min_size=1, max_size=4)
SUBTOPIC = st.lists(TOKEN, min_size=1, max_size=5)


def oracle(pattern: list[str], subtopic: list[str], separator: str) -> bool:
    """A "*" token is one token of any characters but the separator, a trailing "*" more."""
    one = f"(?:(?!{re.escape(separator)}).)+"
    parts = [one if token == "*" else re.escape(token) for token in pattern]
    if pattern[-1] == "*":
        parts[-1] = f"{one}(?:{re.escape(separator)}{one})*"
    regex = re.escape(separator).join(parts)
    return re.fullmatch(regex, separator.join(subtopic), re.DOTALL) is not None


@settings(max_examples=300, deadline=None)
@given(SUBTOPIC, st.lists(st.booleans(), min_size=5, max_size=5), st.booleans(),
       st.sampled_from([".", "/"]), st.data())
def test_random_patterns_agree_with_a_regex(tokens: list[str], wild: list[bool], extend: bool,
                                            separator: str, data: st.DataObject) -> None:
    # A pattern derived from the subtopic, with some tokens made wildcards, and maybe a
    # longer or a different subtopic to test it against.
    pattern = ["*" if star else token for token, star in zip(tokens, wild)]
    subtopic = tokens + data.draw(SUBTOPIC) if extend else tokens
    if data.draw(st.booleans()):
        subtopic = data.draw(SUBTOPIC)
    expected = oracle(pattern, subtopic, separator)
    assert subtopic_matches(separator.join(pattern), separator.join(subtopic),
                            separator) is expected
    assert is_wildcard(separator.join(pattern), separator) is ("*" in pattern)
    # Every subtopic matches itself, "*" and, with a trailing "*", any longer subtopic.
    joined = separator.join(subtopic)
    assert subtopic_matches(joined, joined, separator)
    assert subtopic_matches("*", joined, separator)
    assert subtopic_matches(separator.join(subtopic + ["*"]),
                            separator.join(subtopic + tokens), separator)
