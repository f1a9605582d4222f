"""Tab completion: words seen in remote output and history; in shells, remote file names
and command names (looked up by :class:`~remoterepl.session.lookups.RemoteNames`).

Nothing here runs per keystroke or per output chunk except :meth:`WordBank.feed` (an
append). Everything else runs when Tab is pressed, asynchronously, with short timeouts and
caches: typing never waits for the network.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from remoterepl.session.lookups import RemoteNames

WORD = re.compile(r"[^\W\d][\w.-]*\w")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_WORD_BEFORE_CURSOR = re.compile(r"[\w.-]*$")
# The shell word under the cursor: backslash escapes kept, separators end it.
_SHELL_TOKEN = re.compile(r"(?:\\.|[^\s;|&<>()=\\\"'`])*$")
_SHELL_SPECIAL = re.compile(r"([\s'\"\\$`&|;<>()*?\[\]!{}#])")
_COMMAND_LEAD = re.compile(
    r"(?:^|[;|&(`]|\$\(|\b(?:sudo|exec|time|nohup|xargs|watch|command|"
    r"builtin|nice|env|then|do|else|if|while|until))\s*$"
)

MAX_SHOWN = 500


def extract_words(text: str) -> list[str]:
    """Completion words in ``text`` (escape sequences removed), in order of appearance."""
    if "\x1b" in text:
        text = _ANSI.sub(" ", text)
    return WORD.findall(text)


class WordBank:
    """Words seen in remote output and typed lines, most recent last."""

    WINDOW = 256 * 1024  # characters of recent output kept until the next Tab
    MAX_WORDS = 20000

    def __init__(self) -> None:
        self._chunks: deque[str] = deque()
        self._size = 0
        self._words: dict[str, None] = {}

    def feed(self, text: str) -> None:
        """Remember recent output (cheap: called for every output chunk)."""
        self._chunks.append(text)
        self._size += len(text)
        while self._size - len(self._chunks[0]) >= self.WINDOW:
            self._size -= len(self._chunks.popleft())

    def take_recent(self) -> str:
        """The output fed since the last call."""
        text = "".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        return text

    def add(self, words: Iterable[str]) -> None:
        """Add words; a word seen again becomes the most recent."""
        bank = self._words
        for word in words:
            bank.pop(word, None)
            bank[word] = None
        while len(bank) > self.MAX_WORDS:
            del bank[next(iter(bank))]

    def matching(self, prefix: str, limit: int = MAX_SHOWN) -> list[str]:
        """Words starting with ``prefix`` (longer than it), most recent first."""
        found = []
        for word in reversed(self._words):
            if word.startswith(prefix) and word != prefix:
                found.append(word)
                if len(found) >= limit:
                    break
        return found


# -- the completer ---------------------------------------------------------------------


def shell_escape(name: str) -> str:
    """Backslash-escape characters a shell would interpret."""
    return _SHELL_SPECIAL.sub(r"\\\1", name)


def shell_token(before_cursor: str) -> str:
    """The shell word being typed (escapes kept as typed)."""
    found = _SHELL_TOKEN.search(before_cursor)
    return found.group(0) if found else ""


def in_command_position(before_token: str) -> bool:
    """True when the word after ``before_token`` would be a command name."""
    return _COMMAND_LEAD.search(before_token) is not None


class FrontEndCompleter(Completer):
    """Words from output and history; remote commands and files in shell sessions."""

    def __init__(
        self,
        words: WordBank,
        history: Callable[[], list[str]],
        remote: RemoteNames | None,
        enabled: Callable[[], bool],
    ) -> None:
        self.words = words
        self.history = history
        self.remote = remote
        self.enabled = enabled
        self._history_seen = 0

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        """Synchronous completion is not offered: see :meth:`get_completions_async`."""
        return []

    async def get_completions_async(
        self, document: Document, complete_event: CompleteEvent
    ) -> AsyncGenerator[Completion, None]:
        """Completions for the word before the cursor."""
        if not self.enabled():
            return
        before = document.text_before_cursor
        if self.remote is not None:
            token = shell_token(before)
            lead = before[: len(before) - len(token)]
            if in_command_position(lead) and "/" not in token:
                if token:
                    for name in await self._remote_commands(token):
                        yield Completion(name, -len(token))
                return
            found = False
            for completion in await self._remote_files(token):
                found = True
                yield completion
            if found or "/" in token:
                return
        prefix = _WORD_BEFORE_CURSOR.search(before)
        word = prefix.group(0) if prefix else ""
        if not word:
            return
        candidates = await self._words(word)
        tail = re.split(r"[.-]", word)[-1]
        if not candidates and tail and tail != word:  # math.isq -> isqrt (after the dot)
            word, candidates = tail, self.words.matching(tail)
        for candidate in candidates:
            yield Completion(candidate, -len(word))

    async def _words(self, prefix: str) -> list[str]:
        recent = self.words.take_recent()
        strings = self.history()
        new_history = strings[self._history_seen :]
        self._history_seen = len(strings)
        text = recent + "\n" + "\n".join(new_history[-1000:])
        if len(text) > 4096:  # a big harvest runs in a thread (regex over 256 KiB)
            self.words.add(await asyncio.to_thread(extract_words, text))
        else:
            self.words.add(extract_words(text))
        return self.words.matching(prefix)

    async def _remote_commands(self, token: str) -> list[str]:
        assert self.remote is not None
        try:
            names = await self.remote.commands()
        except (OSError, asyncio.TimeoutError):
            return []
        return [n for n in names if n.startswith(token) and n != token][:MAX_SHOWN]

    async def _remote_files(self, token: str) -> list[Completion]:
        assert self.remote is not None
        typed = re.sub(r"\\(.)", r"\1", token)
        directory, _, prefix = typed.rpartition("/")
        if "/" in typed:
            directory += "/"
        try:
            path = await self._resolve(directory)
            entries = await self.remote.listdir(path)
        except (OSError, asyncio.TimeoutError):
            return []
        typed_tail = token.rpartition("/")[2]  # what the completion replaces, as typed
        completions = []
        for name, is_dir in entries:
            if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
                continue
            suffix = "/" if is_dir else ""
            completions.append(
                Completion(shell_escape(name) + suffix, -len(typed_tail), display=name + suffix)
            )
            if len(completions) >= MAX_SHOWN:
                break
        return completions

    async def _resolve(self, directory: str) -> str:
        assert self.remote is not None
        if directory.startswith("/"):
            return directory
        if directory == "~" or directory.startswith("~/"):
            return posixpath.join(await self.remote.home(), directory[2:])
        return posixpath.join(await self.remote.cwd(), directory)
