"""--strip-escapes as a terminal parser (issue 12): the bypasses seen (strings ended by
another escape, ``ESC k``, unterminated strings), and hypothesis properties over inputs
dense in control characters: no string introducer or query survives, any chunking gives the
result of the whole, text after an aborted or unterminated string survives, the state stays
bounded however long a sequence runs, and stripping twice changes nothing."""

from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from remoterepl.editor.sanitize import MAX_SEQUENCE, EscapeStripper

PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What may remain: text without ESC, C1 or ENQ, and complete kept sequences.
_SAFE_OUTPUT = re.compile(
    r"(?:[^\x05\x1b\x80-\x9f]"
    r"|\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e])*"
)
# (ESC, intermediates, then "]" is an ordinary escape, not OSC.)
_INTRODUCER = re.compile(r"\x1b[\]PX^_k\\]|[\x80-\x9f]")
# Queries the terminal would answer into the input, written out independently of the
# stripper's own table.
_QUERY_OUT = re.compile(
    r"\x05|\x1bZ|\x1b\[(?:[<=>?]?[\d;:]*[nctx]|[<=>?]?[\d;]*\$[pwu]|[\d;]*\*y|>[\d;]*q"
    r"|\?[\d;]*[umS]|[\d;]*#R|[\d;]*&u)"
)
# Introducers, terminators and the bytes around them, 7- and 8-bit.
_TOKENS = [
    "\x1b", "[", "]", "P", "X", "^", "_", "k", "\\", "\x07", "\x18", "\x1a", "\n", "\r",
    "\x05", "\x7f", "\x90", "\x98", "\x9b", "\x9c", "\x9d", "\x9e", "\x9f", "\x85",
    "0", "1", ";", ":", "?", ">", "$", "*", " ", "(", "#", "m", "n", "c", "t", "q", "p",
    "H", "J", "h", "l", "u", "y", "a", "é", "漢", "\x1b]52;c;", "\x1b]0;", "\x1bP$q",
    "\x1b[", "\x1b\\", "Z", "R", "&", "\x1bZ", "\x1b[#R", "\x1b[&u", "\x1b[6n", "\x1b[?1004h",
]  # fmt: skip
_streams = st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=4)), max_size=60).map(
    "".join
)
_plain = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20)


def strip(text: str) -> str:
    return EscapeStripper().feed(text)


def strip_in_chunks(text: str, cuts: list[int]) -> str:
    stripper = EscapeStripper()
    bounds = [0, *sorted(cut % (len(text) + 1) for cut in cuts), len(text)]
    return "".join(stripper.feed(text[a:b]) for a, b in itertools.pairwise(bounds))


# -- the bypasses seen ---------------------------------------------------------------------


def test_a_string_ended_by_another_escape_is_dropped_and_the_escape_kept() -> None:
    """xterm ends a string at any ESC: the clipboard write and the title are dropped, the
    SGR that ended them is kept (the old filter let both through)."""
    assert strip("a\x1b]52;c;ZXZpbA==\x1b[mb") == "a\x1b[mb"
    assert strip("a\x1b]0;TITLE\x1b[mb") == "a\x1b[mb"
    assert strip('a\x1bP$q"p\x1b[31mb') == "a\x1b[31mb"


def test_screen_and_tmux_window_names_are_stripped() -> None:
    assert strip("a\x1bkevil-name\x1b\\b") == "ab"
    assert strip("a\x1bkevil-name\x07b") == "ab"


def test_an_unterminated_string_ends_at_the_next_escape_or_line() -> None:
    """Nothing of it leaks when an escape follows in the same chunk, and what follows
    survives however long it was (the old filter swallowed everything past 64 KiB)."""
    assert strip("x\x1b]52;c;AAAA\x1b[32mgreen") == "x\x1b[32mgreen"
    stripper = EscapeStripper()
    assert stripper.feed("x\x1b]52;c;" + "A" * 200_000) == "x"
    assert stripper.feed("A" * 10) == ""
    assert stripper.feed("B\nafter\n") == "\nafter\n"
    assert stripper.held == 0


def test_8bit_strings_and_csi_are_dropped_whole() -> None:
    """C1 forms as UTF-8 code points: OSC, DCS, APC strings and 8-bit CSI sequences go
    whole (their parameters do not show as text), other C1 controls alone."""
    assert strip("a\x9d0;title\x9cb\x90$q\x9cc\x9f_apc\x07x\x9cd") == "abcd"
    assert strip("a\x9b2Jb\x85c") == "abc"


def test_cancel_aborts_and_c0_inside_a_sequence_acts_at_once() -> None:
    assert strip("a\x1b]0;t\x18b") == "a\x18b"
    assert strip("a\x1b[1\n;31mb") == "a\n\x1b[1;31mb"
    assert strip("a\x1b[12\x1b[mb") == "a\x1b[mb"


def test_queries_go_and_colours_cursor_and_screen_modes_stay() -> None:
    kept = "\x1b[1;31mred\x1b[0m\x1b[?1049h\x1b[H\x1b[2J\x1b[5 q\x1b(B\x1b7\x1b8\x1b[?2004h"
    assert strip(kept) == kept
    queries = "\x1b[6n\x1b[c\x1b[>c\x1b[=c\x1b[21t\x1b[?2026$p\x1b[>q\x1b[?u\x1b[x\x05"
    queries += "\x1bZ\x1b[#R\x1b[&u"  # DECID (answered as DA), XTREPORTCOLORS, DECRQUPSS
    assert strip(f"a{queries}b") == "ab"
    assert strip("\x1b#8\x1b(Z\x1b[#P") == "\x1b#8\x1b(Z\x1b[#P"  # near misses: not queries


def test_mouse_and_focus_reporting_modes_are_kept() -> None:
    """A program that turned them on wants those reports (sent only on a click or a focus
    change): only what the terminal would answer unasked is stripped."""
    modes = "\x1b[?1000h\x1b[?1002h\x1b[?1003h\x1b[?1004h\x1b[?1006h\x1b[?1000l\x1b[?1004l"
    assert strip(modes) == modes


def test_csi_with_thousands_of_parameters_is_dropped_in_bounded_memory() -> None:
    stripper = EscapeStripper()
    assert stripper.feed("x\x1b[") == "x"
    for _ in range(100):
        assert stripper.feed("1;" * 5000) == ""
        assert stripper.held <= MAX_SEQUENCE
    assert stripper.feed("mafter") == "after"


# -- properties ----------------------------------------------------------------------------


@PROPERTY
@given(_streams)
@example("\x1b]0;t\x1b]52;c;x\x1b[m")
@example("\x1b\x1bZ\x1b[\x1b[#R\x1b[1;2&u")
def test_no_string_introducer_or_query_survives(text: str) -> None:
    out = strip(text)
    assert _SAFE_OUTPUT.fullmatch(out), repr(out)
    assert not _INTRODUCER.search(out), repr(out)
    assert not _QUERY_OUT.search(out), repr(out)


@PROPERTY
@given(_streams)
def test_stripping_twice_changes_nothing(text: str) -> None:
    once = strip(text)
    assert strip(once) == once


@PROPERTY
@given(_streams, st.lists(st.integers(min_value=0), max_size=8))
def test_any_chunking_gives_the_result_of_the_whole(text: str, cuts: list[int]) -> None:
    assert strip_in_chunks(text, cuts) == strip(text)


# What ends a string -> what of it shows. Unterminated, the string ends with its line.
_ENDERS = {"\x1b\\": "", "\x9c": "", "\n": "\n", "\x18": "\x18", "\x1b[m": "\x1b[m",
           "\x1b]0;next\x07": "", "\x1b\x1b[1m": "\x1b[1m"}  # fmt: skip


@PROPERTY
@given(
    st.sampled_from(["\x1b]", "\x1bP", "\x1bX", "\x1b^", "\x1b_", "\x1bk", "\x9d", "\x90"]),
    st.text(alphabet=st.characters(blacklist_characters="\x07\n\x18\x1a\x1b"), max_size=50).filter(
        lambda body: not any("\x80" <= c <= "\x9f" for c in body)
    ),
    st.sampled_from(sorted(_ENDERS)),
    _plain,
    st.lists(st.integers(min_value=0), max_size=4),
)
def test_text_after_an_aborted_or_unterminated_string_survives(
    introducer: str, body: str, ender: str, plain: str, cuts: list[int]
) -> None:
    """Whatever ended the string (ST, a newline, CAN, another sequence), or if nothing
    did but the next line: the text after it shows, and none of the string."""
    text = f"before{introducer}{body}{ender}{plain}"
    assert strip_in_chunks(text, cuts) == f"before{_ENDERS[ender]}{plain}"


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["\x1b]52;c;", "\x1bP", "\x1b[", "\x1b[?", "\x9b", "\x1b(", "\x9d"]),
    st.sampled_from(["A", "1;", "é", "\r", " ", "0" * 100]),
    st.integers(min_value=1, max_value=40),
)
def test_state_stays_bounded_for_unbounded_input(intro: str, filler: str, chunks: int) -> None:
    stripper = EscapeStripper()
    stripper.feed(intro)
    for _ in range(chunks):
        stripper.feed(filler * 1000)
        assert stripper.held <= MAX_SEQUENCE


@PROPERTY
@given(
    st.text(alphabet=st.characters(blacklist_characters="\x05\x1b", max_codepoint=0x7F)),
    st.lists(st.integers(min_value=0), max_size=4),
)
def test_text_without_escapes_passes_unchanged(text: str, cuts: list[int]) -> None:
    assert strip_in_chunks(text, cuts) == text
