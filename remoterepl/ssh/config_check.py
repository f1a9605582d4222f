"""ssh_config files checked line by line as OpenSSH checks them, before asyncssh reads them.

asyncssh skips keywords it does not know and follows ``Include`` without limit (a file
that includes itself ends in a RecursionError); OpenSSH stops at an unknown keyword
(unless IgnoreUnknown names it) and at the 16th nested Include, naming the file and line.
Every line is checked, inside Host/Match blocks that do not apply too, as OpenSSH does.
Blocking file I/O.
"""

from __future__ import annotations

import functools
import glob
import os
import shlex
import stat

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.settings import ConnectSettings
from remoterepl.ssh import keywords
from remoterepl.ssh.keyword_values import LINE_VALUE_KEYWORDS

MAX_INCLUDE_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH
SYSTEM_DIRECTORY = "/etc/ssh"
SYSTEM_CONFIG = os.path.join(SYSTEM_DIRECTORY, "ssh_config")


def split_line(line: str, *, comments: bool = False) -> tuple[str, list[str]] | None:
    """(keyword, arguments) of a config line as asyncssh splits it; None for blank lines
    and comments (``comments``: also a ``#`` word ends the line, as OpenSSH reads it).
    ValueError for unbalanced quotes."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    words = shlex.split(text, comments=comments)
    if not words:
        return None
    first, equals, rest = words[0].partition("=")
    args = ([rest] if rest else []) + words[1:] if equals else words[1:]
    if args and args[0].startswith("="):  # "Port =22", "Port = 22"
        args[0] = args[0][1:]
        if not args[0]:
            args.pop(0)
    return first, args


def _read_lines(path: str) -> list[str]:
    """The lines of a regular file, or none for /dev/null (``-F /dev/null``). Anything else
    is refused before it is read: a FIFO would block the run, /dev/zero never end."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"can't read ssh config {shown(path)}: {exc.strerror}") from None
    with open(fd, encoding="utf-8", errors="replace") as file:
        mode = os.fstat(fd)
        if stat.S_ISCHR(mode.st_mode) and mode.st_rdev == os.stat(os.devnull).st_rdev:
            return []
        if not stat.S_ISREG(mode.st_mode):
            raise UsageError(f"ssh config {shown(path)} is not a regular file: refusing it")
        try:
            return file.readlines()
        except OSError as exc:
            raise UsageError(f"can't read ssh config {shown(path)}: {exc.strerror}") from None


class _Checker:
    def __init__(self, ignore_unknown: list[str]) -> None:
        self.ignore_unknown = ignore_unknown

    def file(self, path: str, *, system: bool, depth: int) -> None:
        lines = _read_lines(path)
        for number, line in enumerate(lines, 1):
            where = f"{shown(path)} line {number}"
            try:
                parsed = split_line(line)
            except ValueError as exc:
                raise UsageError(f"bad ssh config: {where}: {exc}") from None
            if parsed is None:
                continue
            keyword, args = parsed
            line_value = keyword.lower() in LINE_VALUE_KEYWORDS
            value = shlex.join(args) if line_value else " ".join(args)
            if keyword.lower() == "include":
                self.include(args, where, system=system, depth=depth)
                continue
            if keyword.lower() == "ignoreunknown" and not self.ignore_unknown:
                self.ignore_unknown.extend(p for a in args for p in a.split(",") if p)
            verdict = keywords.judge(keyword, value, self.ignore_unknown)
            if verdict.error is not None and verdict.keyword not in keywords.NOT_IMPLEMENTED:
                raise UsageError(f"bad ssh config: {where}: {verdict.error}")

    def include(self, patterns: list[str], where: str, *, system: bool, depth: int) -> None:
        if depth >= MAX_INCLUDE_DEPTH:
            raise UsageError(
                f"bad ssh config: {where}: more than {MAX_INCLUDE_DEPTH} nested Include "
                "files (does a file include itself?)"
            )
        for pattern in patterns:
            path = os.path.expanduser(pattern)
            if path.startswith("~"):
                raise UsageError(f"bad ssh config: {where}: Include {shown(pattern)}: no such user")
            if not os.path.isabs(path):
                base = SYSTEM_DIRECTORY if system else os.path.expanduser("~/.ssh")
                path = os.path.join(base, path)
            for found in sorted(glob.glob(path)):
                if os.path.isfile(found):
                    self.file(found, system=system, depth=depth + 1)


def check_user_files(settings: ConnectSettings, user_files: tuple[str, ...]) -> None:
    """Check the run's ssh_config files (-F, or ~/.ssh/config and the system file) with
    -o IgnoreUnknown's patterns; files already found good are not read again (many hosts
    check the same files)."""
    ignore = [p for k, v in settings.options if k.lower() == "ignoreunknown" for p in v.split(",")]
    _check_once(tuple(_identity(path) for path in user_files), tuple(ignore))


def _identity(path: str) -> tuple[str, int, int, int, int]:
    try:
        info = os.stat(path)
    except OSError:
        return (path, 0, 0, 0, 0)  # checked (and refused) by the check itself
    return (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _check_once(files: tuple[tuple[str, int, int, int, int], ...], ignore: tuple[str, ...]) -> None:
    """The check of these versions of the files (a failure raises, so is not remembered).
    The files they include are checked with them, the first time."""
    check_config_files(tuple(path for path, *_stat in files), SYSTEM_CONFIG, list(ignore))


def check_config_files(
    user_files: tuple[str, ...], system_file: str, ignore_unknown: list[str]
) -> None:
    """Check each file (and what it includes); UsageError (exit status 2) naming the file
    and line of the first problem. ``ignore_unknown`` holds -o IgnoreUnknown's patterns."""
    checker = _Checker(list(ignore_unknown))
    for path in user_files:
        checker.file(path, system=path == system_file, depth=0)
