"""Ansible's host patterns, read as Ansible reads them: INI host lines, ranges in inventory
host names (``web[01:03]``, ``db-[a:c]``, ``[1:9:2]``), ``host:port``, and the ``--limit``
language (lib/ansible/inventory/manager.py): names of hosts and groups, globs, ``~regex``,
``[i]`` / ``[i:j]`` subscripts, unions with ``,`` or ``:``, ``&`` intersections, ``!``
exclusions and ``@file``. Pure: the one I/O is reading an ``@file``. Unlike Ansible: a
backwards range (``[3:1]``, Ansible: no host) and a lone ``!`` or ``&`` (Ansible: a
traceback) are errors, and an IPv6 address keeps its colons after a ``!`` or ``&`` too.
As Ansible: with a comma in a --limit, ``:`` separates nothing (``a:b,c`` is ``a:b`` and
``c``), and without one an IPv6 address among ``:``-unions splits (use commas)."""

from __future__ import annotations

import ast
import fnmatch
import ipaddress
import re
import shlex
import string
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from remoterepl.display import shown
from remoterepl.errors import UsageError

# `[v6addr]:port`, and `host:port` where host has no ':' outside [range] brackets.
_BRACKETED_PORT = re.compile(r"\[([^\]]+)\]:([0-9]+)")
_HOST_PORT = re.compile(r"((?:[^:\[\]]|\[[^\]]*\])+):([0-9]+)")
# Ansible's colon-separated --limit form: words of anything but blanks, ':' and brackets,
# a whole [...] counting as one character (so `web[0:2]` stays one pattern).
_LIMIT_WORD = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
# A trailing subscript: `web[0]`, `web[-1]`, `web[1:3]`, `web[2:]` (and Ansible's old `[1-3]`).
_SUBSCRIPT = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]+)[:-]([0-9]*))\]")
_GLOB_CHARS = (".", "?", "*", "[")  # Ansible also matches host names when one is present


def split_host_port(text: str) -> tuple[str, int | None]:
    """An inventory host entry split into its name (ranges unexpanded) and ``:port``."""
    bracketed = _BRACKETED_PORT.fullmatch(text)
    if bracketed and (":" not in bracketed[1] or _is_ip(bracketed[1])):
        return bracketed[1], int(bracketed[2])
    plain = _HOST_PORT.fullmatch(text)
    if plain:
        return plain[1], int(plain[2])
    return text, None  # an IPv6 address can have a port only inside brackets, as in Ansible


def split_host_line(line: str) -> tuple[str, dict[str, Any]]:
    """An INI host line, ``entry [key=value ...] [# comment]``, as its host entry
    (``web[1:3]:2222``) and its variables, read as Ansible reads them (shell-like words,
    each value by ini_value); ValueError, saying why, for a malformed line."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError as exc:
        raise ValueError(f"cannot read {shown(line)}: {exc}") from None
    if not words or not words[0]:
        raise ValueError("an empty host name")
    entry = words[0]
    if entry == "---":
        raise ValueError("'---' starts a YAML document: name a YAML inventory *.yml")
    if entry.endswith(":") and split_host_port(entry)[1] is None:
        raise ValueError(f"host {shown(entry)} ends in ':' (a port number comes after it)")
    variables: dict[str, Any] = {}
    for word in words[1:]:
        key, equals, value = word.partition("=")
        if not equals:
            raise ValueError(f"expected key=value after the host, got {shown(word)}")
        variables[key] = ini_value(value)
    return entry, variables


def ini_value(text: str) -> Any:
    """An INI value as Ansible reads one: a Python literal (22, 'x', True), else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


# One line of an inventory naming more hosts than this is a typo, not a fleet (and would
# only exhaust memory).
MAX_RANGE_HOSTS = 100_000


def expand_range(name: str) -> list[str]:
    """Every host name that ``name`` stands for, in order: each ``[begin:end]`` or
    ``[begin:end:step]`` range (numbers, zero-padded numbers or single letters) expanded;
    ValueError, saying why, for a malformed range."""
    start = name.find("[")
    if start < 0:
        return [name]
    end = name.find("]", start)
    if end < 0:
        raise ValueError("a range without its closing ']'")
    head, spec, tail = name[:start], name[start + 1 : end], name[end + 1 :]
    values = _range_values(spec)
    tails = expand_range(tail)  # later ranges multiply: db[1:2]-[a:b]
    if len(values) * len(tails) > MAX_RANGE_HOSTS:
        raise ValueError(f"{shown(name)} stands for more than {MAX_RANGE_HOSTS} hosts")
    return [head + value + rest for value in values for rest in tails]


def _range_values(spec: str) -> list[str]:
    """The values of one range without its brackets: ``01:03`` -> 01 02 03."""
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError(f"range [{shown(spec)}] is not [begin:end] or [begin:end:step]")
    first, last = bounds[0] or "0", bounds[1]  # Ansible: an empty begin is 0
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not last:
        raise ValueError(f"range [{shown(spec)}] has no end")
    if not step_text.isdigit() or int(step_text) < 1:
        raise ValueError(f"range [{shown(spec)}]: the step must be a whole number from 1")
    step = int(step_text)
    letters = string.ascii_letters
    if len(first) == len(last) == 1 and first in letters and last in letters:
        if letters.index(first) > letters.index(last):
            raise ValueError(f"range [{shown(spec)}] ends before it begins")
        return list(letters[letters.index(first) : letters.index(last) + 1 : step])
    if not (first.isascii() and first.isdigit() and last.isascii() and last.isdigit()):
        raise ValueError(f"range [{shown(spec)}] is neither of numbers nor of single letters")
    width = len(first) if first.startswith("0") and len(first) > 1 else 0
    if width and len(last) != width:
        raise ValueError(f"range [{shown(spec)}]: a zero-padded begin needs an end as wide")
    if int(first) > int(last):
        raise ValueError(f"range [{shown(spec)}] ends before it begins")
    if (int(last) - int(first)) // step >= MAX_RANGE_HOSTS:
        raise ValueError(f"range [{shown(spec)}] stands for more than {MAX_RANGE_HOSTS} hosts")
    return [str(n).zfill(width) for n in range(int(first), int(last) + 1, step)]


def _is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def split_limit(limit: str) -> list[str]:
    """The sub-patterns of a ``--limit``, split as Ansible's split_host_pattern splits
    them: on commas when there is one (then a part's ':' is not a separator), else on
    ':' and blanks, except that an IPv6 address (``::1``, ``!fe80::1``) stays whole;
    ``@FILE`` parts replaced by the file's lines (one pattern each)."""
    if "," in limit:
        parts = limit.split(",")
    elif _is_ip(limit.strip().lstrip("!&")):
        parts = [limit]
    else:
        parts = _LIMIT_WORD.findall(limit)
    patterns: list[str] = []
    for part in (p.strip() for p in parts):
        if part.startswith("@"):
            patterns.extend(line.strip() for line in _read_limit_file(part[1:]))
        elif part:
            patterns.append(part)
    return [p for p in patterns if p]


def _read_limit_file(path: str) -> list[str]:
    """The lines of an ``--limit @FILE``."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().splitlines()
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"--limit @{shown(path)}: cannot read it: {reason}") from None


def evaluate(
    patterns: Sequence[str], hosts: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> tuple[set[str], list[str]]:
    """The names of the hosts that ``patterns`` select, and the patterns that match no
    host (Ansible warns of each and goes on). As Ansible: the plain patterns first, as a
    union (none: ``all``), then each ``&pattern`` intersected, then each ``!pattern`` taken
    out. ``hosts`` are the inventory's host names, ``groups`` each group's hosts."""
    plain = [p for p in patterns if p[0] not in "&!"] or ["all"]
    ordered = plain + [p for p in patterns if p[0] == "&"] + [p for p in patterns if p[0] == "!"]
    host_set = set(hosts)
    selected: dict[str, None] = {}
    unmatched: list[str] = []
    for pattern in ordered:
        if pattern in ("!", "&"):  # Ansible fails with an IndexError
            raise UsageError(
                f"--limit: a {pattern!r} with no pattern after it"
                " (separate IPv6 addresses with ',', not ':')"
            )
        if pattern in host_set:  # as Ansible: a host's own name is that host, even when
            matched = [pattern]  # a group has that name too
        else:
            matched = _match_one(pattern.lstrip("&!"), hosts, groups)
        if not matched:
            unmatched.append(pattern)
        if pattern[0] in "&!":
            keep = set(matched) if pattern[0] == "&" else host_set.difference(matched)
            selected = dict.fromkeys(name for name in selected if name in keep)
        else:
            selected.update(dict.fromkeys(matched))
    return set(selected), unmatched


def _match_one(
    pattern: str, hosts: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> list[str]:
    """The hosts one pattern (without its ``&`` or ``!``) names, in order, no repeats."""
    expression, subscript = pattern, None
    found = None if pattern.startswith("~") else _SUBSCRIPT.fullmatch(pattern)
    if found:  # Ansible takes a trailing [..] as a subscript, never as a glob's class
        expression = found[1]
        subscript = (int(found[2]), None) if found[2] else (int(found[3]), found[4])
    matches = _matcher(expression)
    matched_groups = [group for group in groups if matches(group)]
    names = [name for group in matched_groups for name in groups[group]]
    # A plain word that names a group means the group only; a glob or regex also hosts.
    if (
        not matched_groups
        or expression.startswith("~")
        or any(c in expression for c in _GLOB_CHARS)
    ):
        names.extend(name for name in hosts if matches(name))
    names = list(dict.fromkeys(names))
    if not names or subscript is None:
        return names
    first, last = subscript
    if last is None or last == "0":  # [i], and Ansible's [i:0] (its end 0 reads as none)
        if not -len(names) <= first < len(names):
            raise UsageError(
                f"--limit {shown(pattern)}: {shown(expression)} has {len(names)} hosts"
                f" (the first is [0], the last [{len(names) - 1}] or [-1])"
            )
        return [names[first]]
    return names[first : int(last) + 1 if last else None]  # [i:j] includes j; [i:] to the end


def _matcher(expression: str) -> Callable[[str], bool]:
    """Whether a name matches a glob (the whole name) or a ``~regex`` (from its start)."""
    try:
        compiled = re.compile(
            expression[1:] if expression.startswith("~") else fnmatch.translate(expression)
        )
    except re.error as exc:
        raise UsageError(f"--limit: {shown(expression)} is not a valid pattern: {exc}") from None
    return lambda name: compiled.match(name) is not None
