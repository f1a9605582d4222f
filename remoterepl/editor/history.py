"""Persistent input history: one file per destination x command, private, shared safely.

Files live under platformdirs' user state dir (``~/.local/state/remoterepl/history/``,
directories 0700, files 0600), named readably with a hash of ``user@host:port`` and the
command (``rrtest@db1_22_psql-3f2a9c1e04b7``); ``history/INDEX`` lists what each file is
for. The format is prompt_toolkit's FileHistory format, so other tools can read it.

* Every accepted line is appended at once (one ``write`` on an ``O_APPEND`` descriptor
  under an exclusive ``flock``), off the event loop, so a crash loses nothing and two
  sessions writing the same file interleave whole entries.
* On load, a file holding more than ``limit`` entries is trimmed to the newest ``limit``
  by writing a temporary file and renaming it over the original, under the same lock;
  a writer that finds the file replaced under it re-opens it, so no line is lost.
* :class:`GuardedHistory` decides what is stored at all (:func:`history_filter`: secrets,
  lines starting with a space, lines holding control characters, the ignore pattern).
* Files are named after the program the command runs (``sudo psql``: ``psql``); a file an
  older version named after the first word is renamed to that name when first loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import hashlib
import os
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prompt_toolkit.auto_suggest import AutoSuggest, Suggestion
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.document import Document
from prompt_toolkit.history import History, InMemoryHistory

from remoterepl.command import program_of
from remoterepl.editor.sanitize import CONTROL_CHARACTER

APP_NAME = "remoterepl"
_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")


def history_filter(
    ignore: str | None, ignore_space: bool, secret: Callable[[], bool]
) -> Callable[[str], bool]:
    """Whether an accepted line is stored (see :class:`GuardedHistory`): never when
    ``secret()`` says it answered a password prompt, nor when it holds a control character
    (a literal ``^Z`` or ``^[`` is a slip, and stored it would come back with Up); nor,
    with ``ignore_space``, when it starts with a space (bash's ignorespace); nor when the
    ``ignore`` regex matches it."""
    pattern = re.compile(ignore) if ignore else None

    def keep(line: str) -> bool:
        return not (
            secret()
            or CONTROL_CHARACTER.search(line)  # Tab and newlines (a pasted block) are fine
            or (ignore_space and line.startswith(" "))
            or (pattern is not None and pattern.search(line))
        )

    return keep


def history_path(
    state_dir: Path, user: str, host: str, port: int | None, command: str | None
) -> Path:
    """The history file for ``user@host:port`` running ``command`` (None: login shell)."""
    return _history_file(state_dir, user, host, port, command, program_of(command) or "shell")


def legacy_history_path(
    state_dir: Path, user: str, host: str, port: int | None, command: str | None
) -> Path | None:
    """Where remoterepl 0.1 kept that file, when its name differs: it named the file
    after the command's first word (``sudo``, not ``psql``)."""
    words = (command or "").split()
    first = words[0].rsplit("/", 1)[-1] if words else "shell"
    legacy = _history_file(state_dir, user, host, port, command, first)
    return None if legacy == history_path(state_dir, user, host, port, command) else legacy


def _history_file(
    state_dir: Path, user: str, host: str, port: int | None, command: str | None, what: str
) -> Path:
    key = f"{user}@{host}:{port or 22}\0{command or ''}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    readable = _UNSAFE.sub("_", f"{user}@{host}_{port or 22}_{what}")[:80]
    return state_dir / "history" / f"{readable}-{digest}"


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/remoterepl`` (platformdirs' user state dir)."""
    from platformdirs import user_state_dir

    return Path(user_state_dir(APP_NAME))


def _private_dir(path: Path) -> None:
    """Create ``path`` (and parents) with mode 0700; tighten it if it is ours and looser."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)


def _encode(entry: str, when: datetime.datetime | None = None) -> bytes:
    stamp = (when or datetime.datetime.now()).strftime("%Y-%m-%d %H:%M:%S.%f")
    lines = "".join(f"+{line}\n" for line in entry.split("\n"))
    return f"\n# {stamp}\n{lines}".encode()


def parse_entries(data: bytes) -> list[str]:
    """Entries of a FileHistory-format file, oldest first."""
    entries: list[str] = []
    lines: list[str] = []
    for raw in data.decode("utf-8", "replace").splitlines():
        if raw.startswith("+"):
            lines.append(raw[1:])
        elif lines:
            entries.append("\n".join(lines))
            lines = []
    if lines:
        entries.append("\n".join(lines))
    return entries


def _chunks(entries: Iterable[str]) -> Iterator[bytes]:
    for entry in entries:
        yield _encode(entry)


class PersistentHistory(History):
    """prompt_toolkit History backed by one shared, size-limited file.

    It keeps its entries itself (prompt_toolkit's History keeps them in private state):
    the file is read once, in a thread; every later load (one after each accepted line,
    as prompt_toolkit's Buffer reloads on reset) replays memory on the event loop, with no
    thread hop between Enter and the remote's answer."""

    def __init__(
        self,
        path: Path,
        limit: int,
        index_line: str | None = None,
        legacy_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.limit = limit
        self.index_line = index_line
        self.legacy_path = legacy_path  # an older name of the same file: taken over once
        self.error: str | None = None  # the first write failure, for the user
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        self._entries: list[str] = []  # newest first: this session's lines, then the file's
        self._reading: asyncio.Future[list[str]] | None = None
        self._read = False

    # -- prompt_toolkit's History interface ----------------------------------------------

    async def load(self) -> AsyncGenerator[str, None]:
        """Newest first; the file is read on the first call, in a thread. The event loop
        gets a turn every few hundred entries, so output is never held up behind a long
        history."""
        if not self._read:
            if self._reading is None:
                self._reading = asyncio.ensure_future(
                    asyncio.to_thread(lambda: list(self.load_history_strings()))
                )
            from_file = await asyncio.shield(self._reading)
            if not self._read:  # lines accepted meanwhile are newer than the file's
                self._entries.extend(from_file)
                self._read = True
        for count, item in enumerate(list(self._entries)):
            if count and not count % 256:
                await asyncio.sleep(0)
            yield item

    def get_strings(self) -> list[str]:
        """All entries, oldest first."""
        return self._entries[::-1]

    def append_string(self, string: str) -> None:
        """Remember ``string`` and append it to the file."""
        self._entries.insert(0, string)
        self.store_string(string)

    # -- reading the file ----------------------------------------------------------------

    def load_history_strings(self) -> Iterable[str]:
        """Newest first; trims the file first when it holds more than ``limit`` entries."""
        try:
            _private_dir(self.path.parent)
            self._take_over_legacy_file()
            with self._locked(os.O_RDONLY) as fd:
                self._remove_stale_copies()
                entries = parse_entries(_read_all(fd))
                if len(entries) > self.limit:
                    entries = entries[-self.limit :] if self.limit else []
                    self._replace(entries)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.error = f"history file {self.path}: {exc.strerror}"
            return []
        return list(reversed(entries))

    def _take_over_legacy_file(self) -> None:
        """Rename the file an older version named differently to today's name."""
        legacy = self.legacy_path
        if legacy is None or self.path.exists() or not legacy.exists():
            return
        with contextlib.suppress(FileNotFoundError):  # a concurrent session was quicker
            os.rename(legacy, self.path)
            if self.index_line:
                _append_index(self.path.parent / "INDEX", f"{self.path.name}\t{self.index_line}")

    def _remove_stale_copies(self) -> None:
        """Trimmed copies a session died before renaming (called with the lock held:
        nobody else can be writing one now)."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()

    def _replace(self, entries: list[str]) -> None:
        """Atomically swap in a file holding ``entries`` (called with the lock held)."""
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"".join(_chunks(entries)))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.path)

    # -- storing (one background thread, in order) ---------------------------------------

    def store_string(self, string: str) -> None:
        """Append ``string`` in the background (ordered, one write per entry)."""
        data = _encode(string)
        self._writer.submit(self._append, data)

    def _append(self, data: bytes) -> None:
        try:
            if not self.path.exists():  # first line: maybe before the file was loaded
                _private_dir(self.path.parent)
                self._take_over_legacy_file()
            new = not self.path.exists()
            with self._locked(os.O_WRONLY | os.O_APPEND | os.O_CREAT) as fd:
                os.write(fd, data)
            if new and self.index_line:
                _append_index(self.path.parent / "INDEX", f"{self.path.name}\t{self.index_line}")
        except OSError as exc:
            if self.error is None:
                self.error = f"can't write history file {self.path}: {exc.strerror}"

    def close(self) -> None:
        """Wait for pending writes."""
        self._writer.shutdown(wait=True)

    @contextlib.contextmanager
    def _locked(self, flags: int) -> Iterator[int]:
        """An exclusively locked descriptor of the current file at ``path`` (re-opened if
        another session renamed a trimmed copy over it while we waited for the lock)."""
        while True:
            fd = os.open(self.path, flags, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    info = os.fstat(fd)
                    if info.st_mode & 0o077 and info.st_uid == os.getuid():
                        os.fchmod(fd, 0o600)
                    yield fd
                    return
            finally:
                os.close(fd)  # also releases the lock


def _read_all(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def _append_index(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line.replace("\n", " ") + "\n").encode())
    finally:
        os.close(fd)


class GuardedHistory(History):
    """Wraps a history: ``keep(line)`` decides whether an accepted line is stored at all
    (not even in this session's memory: a password must not come back with Up)."""

    def __init__(self, inner: History, keep: Callable[[str], bool]) -> None:
        super().__init__()
        self.inner = inner
        self.keep = keep

    async def load(self) -> AsyncGenerator[str, None]:
        """Load from the wrapped history."""
        async for item in self.inner.load():
            yield item

    def get_strings(self) -> list[str]:
        """All entries, oldest first."""
        return self.inner.get_strings()

    def append_string(self, string: str) -> None:
        """Store ``string`` unless ``keep`` refuses it."""
        if self.keep(string):
            self.inner.append_string(string)

    def load_history_strings(self) -> Iterable[str]:
        """Not used: :meth:`load` delegates."""
        return self.inner.load_history_strings()

    def store_string(self, string: str) -> None:
        """Not used: :meth:`append_string` delegates."""
        self.inner.store_string(string)


def open_history(
    path: Path | None,
    limit: int,
    keep: Callable[[str], bool],
    index_line: str | None = None,
    legacy_path: Path | None = None,
) -> tuple[History, PersistentHistory | None]:
    """The editor's history (a file at ``path``, or memory only when None) and the
    persistent part, if any, for closing and error reports. The file is read in a
    thread: a long history never holds up output."""
    if path is None:
        return GuardedHistory(InMemoryHistory(), keep), None
    persistent = PersistentHistory(path, limit, index_line, legacy_path)
    return GuardedHistory(persistent, keep), persistent


class HistorySuggest(AutoSuggest):
    """Fish-style suggestion: the newest history line that starts with what is typed.

    Like prompt_toolkit's AutoSuggestFromHistory, but incremental: while the user keeps
    typing the same line, the search resumes where the last one stopped (a longer prefix
    can only match what the shorter one matched), so a long history costs one scan per
    line typed, not one per keystroke."""

    def __init__(self) -> None:
        self._last: tuple[str, int, int] = ("", 0, -1)  # prefix, history size, index

    def get_suggestion(self, buffer: Buffer, document: Document) -> Suggestion | None:
        """The rest of the newest matching history line, or None."""
        text = document.text.rsplit("\n", 1)[-1]
        if not text.strip():
            return None
        strings = buffer.history.get_strings()
        last_text, last_size, last_index = self._last
        start = len(strings) - 1
        if text.startswith(last_text) and last_text and last_size == len(strings):
            start = last_index  # -1: nothing matched the shorter prefix
        for index in range(start, -1, -1):
            string = strings[index]
            if "\n" in string:
                for line in reversed(string.splitlines()):
                    if line.startswith(text):
                        self._last = (text, len(strings), index)
                        return Suggestion(line[len(text) :])
            elif string.startswith(text):
                self._last = (text, len(strings), index)
                return Suggestion(string[len(text) :])
        self._last = (text, len(strings), -1)
        return None
