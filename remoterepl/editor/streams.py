"""Remote output on its way to the screen: decoded per stream, stripped of dangerous
escapes if asked, split into lines to paint and the partial line that becomes the prompt,
and watched for what it says about the session (full-screen programs, the shell's working
directory and exit status, a prompt being back)."""

from __future__ import annotations

import codecs
import contextlib
import re
from typing import IO, Protocol
from urllib.parse import unquote, urlsplit

from remoterepl.editor.completion import WordBank
from remoterepl.editor.painter import RESET, Painter
from remoterepl.editor.remote_text import ALT_SCREEN_OFF, ALT_SCREEN_ON, OutputSplitter, prompt_text
from remoterepl.editor.sanitize import EscapeStripper
from remoterepl.editor.toolbar import SessionStatus
from remoterepl.session.lookups import RemoteNames

READ_SIZE = 256 * 1024
# OSC 7 (the shell's working directory) and OSC 133;D (a command's exit status).
_OSC_REPORT = re.compile(r"\x1b\](7|133);([^\x07\x1b]*)(?:\x07|\x1b\\)")


class RemoteStream:
    """One remote output stream: to a file as bytes, or to the screen as decoded lines."""

    def __init__(self, tint: str = "", sink: IO[bytes] | None = None) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.splitter = OutputSplitter()
        self.tint = tint
        self.sink = sink

    def decode(self, data: bytes, final: bool = False) -> str:
        """Text of the next bytes (an incomplete UTF-8 sequence waits for the rest)."""
        return self.decoder.decode(data, final)

    def lines(self, text: str) -> str:
        """The complete lines ``text`` finishes, tinted."""
        lines = self.splitter.feed(text)
        return f"{self.tint}{lines}{RESET}" if lines and self.tint else lines

    def prompt(self) -> str:
        """The partial line as the prompt shows it, tinted."""
        text = prompt_text(self.splitter.partial)
        return f"{self.tint}{text}{RESET}" if text and self.tint else text


class ByteReader(Protocol):
    """A remote output stream (:attr:`RemoteSession.stdout`, ``.stderr``)."""

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; b"" at the end."""


class ScreenEvents(Protocol):
    """What the router tells the front end."""

    def prompt_changed(self) -> None:
        """The partial line (the prompt) changed: redraw."""

    def fullscreen_started(self) -> None:
        """A full-screen program switched to the alternate screen."""

    def fullscreen_ended(self) -> None:
        """It switched back."""


class OutputRouter:
    """Routes decoded output: to the painter as lines, or raw while a full-screen
    program runs; notes what the output reports on the way."""

    def __init__(
        self,
        painter: Painter,
        events: ScreenEvents,
        status: SessionStatus,
        *,
        words: WordBank | None,
        stripper: EscapeStripper | None,
        remote_names: RemoteNames | None,
    ) -> None:
        self.painter = painter
        self.events = events
        self.status = status
        self.words = words
        self.stripper = stripper
        self.remote_names = remote_names
        self.fullscreen = False
        self._remote_prompts = False  # the remote has shown a prompt of its own

    def route(self, stream: RemoteStream, text: str, watch: bool) -> None:
        """Line-split ``text`` for the editor, or pass it raw while a full-screen program
        runs; ``watch`` it for full-screen switches (PTY output)."""
        if "\x1b]" in text:
            self._note_reports(text)
        if self.stripper is not None:
            text = self.stripper.feed(text)
        if self.words is not None and text:
            self.words.feed(text)
        while text:
            if self.fullscreen:
                switch = ALT_SCREEN_OFF.search(text)
                cut = switch.end() if switch else len(text)
                self.painter.queue(text[:cut])
                if switch:
                    self.fullscreen = False
                    self.events.fullscreen_ended()
            else:
                switch = ALT_SCREEN_ON.search(text) if watch else None
                cut = switch.start() if switch else len(text)
                lines = stream.lines(text[:cut])
                if self.status.busy_since is not None and (
                    stream.splitter.partial or (lines and not self._remote_prompts)
                ):
                    self.status.busy_since = None  # a prompt again (or output, for bc)
                if lines:
                    self.painter.queue(lines)
                else:
                    self.events.prompt_changed()
                if switch:
                    self.fullscreen = True
                    self.events.fullscreen_started()
            text = text[cut:]

    def stream_ended(self) -> None:
        """One of the remote's streams has ended (the painter counts them)."""
        self.painter.stream_ended()

    def prompt_seen(self) -> None:
        """The remote showed a prompt of its own: from now on, output alone does not mean
        it is idle again (only its prompt does)."""
        self._remote_prompts = True

    def _note_reports(self, text: str) -> None:
        """Learn from shell-integration marks: OSC 7 (cwd), OSC 133;D (exit status)."""
        for kind, value in _OSC_REPORT.findall(text):
            if kind == "7" and self.remote_names is not None:
                path = unquote(urlsplit(value).path)
                self.remote_names.reported_cwd = path or None
            elif kind == "133" and value.startswith("D;"):
                with contextlib.suppress(ValueError):
                    self.status.last_exit = int(value[2:].split(";")[0])


async def pump(
    reader: ByteReader, stream: RemoteStream, router: OutputRouter, *, watch: bool
) -> None:
    """Read one remote stream to its end: into its file, or through the router."""
    try:
        while data := await reader.read(READ_SIZE):
            if stream.sink is not None:
                stream.sink.write(data)
            else:
                router.route(stream, stream.decode(data), watch)
    except OSError:
        pass  # the --stdout/--stderr file failed: nothing more can be kept
    if stream.sink is None:
        router.route(stream, stream.decode(b"", final=True), watch)
    router.stream_ended()
