"""Remote output on its way to the screen: decoded and (if asked) stripped of dangerous
escapes per stream, split into lines to paint and the partial line that becomes the prompt,
and watched for what it says about the session (full-screen programs, the shell's working
directory and exit status, a prompt being back)."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
from typing import IO, Protocol
from urllib.parse import unquote, urlsplit

from remoterepl.editor.completion import WordBank
from remoterepl.editor.input_mode import MODE_MARK, InputMode
from remoterepl.editor.painter import RESET, Painter
from remoterepl.editor.remote_text import MAX_PROMPT, TERMINAL_QUERY, OutputSplitter, prompt_text
from remoterepl.editor.sanitize import EscapeStripper
from remoterepl.editor.toolbar import SessionStatus, remote_ready
from remoterepl.session.lookups import RemoteNames
from remoterepl.session.ttywatch import POLL, TtyMode

READ_SIZE = 256 * 1024
# After a line editor hands the terminal over, the watcher's last report is its mode, not
# the next reader's; a new one comes within a poll and a link round trip if anything
# changed. Past this (plus twice the round trip), the last report holds after all.
STALE_FOR = POLL * 3
# OSC 7 (the shell's working directory) and OSC 133;D (a command's exit status).
_OSC_REPORT = re.compile(r"\x1b\](7|133);([^\x07\x1b]*)(?:\x07|\x1b\\)")


class RemoteStream:
    """One remote output stream: to a file as bytes, or to the screen as decoded lines."""

    def __init__(
        self, tint: str = "", sink: IO[bytes] | None = None, *, strip_escapes: bool = False
    ) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Per stream, as the decoder: a sequence unfinished on one stream must neither
        # swallow nor be completed by the other stream's text.
        self.stripper = EscapeStripper() if strip_escapes else None
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

    def keys_to_program(self) -> None:
        """The remote program wants keys as they are typed: the editor steps aside."""

    def keys_to_editor(self) -> None:
        """The remote reads a line again: the editor takes the keys back."""

    def query_sent(self) -> None:
        """Output for the editor's screen asked the terminal something: the answer will
        come on the editor's input."""


class OutputRouter:
    """Routes decoded output: to the painter as lines with a partial line for the prompt,
    or as it is while the remote program reads keys itself; notes on the way what the
    output reports (who reads keys, the shell's cwd and exit status, a prompt)."""

    def __init__(
        self,
        painter: Painter,
        events: ScreenEvents,
        status: SessionStatus,
        *,
        mode: InputMode,
        words: WordBank | None,
        remote_names: RemoteNames | None,
    ) -> None:
        self.painter = painter
        self.events = events
        self.status = status
        self.mode = mode
        self.words = words
        self.remote_names = remote_names
        self.raw = False  # output goes to the screen as it is (keys go to the program)
        self._raw_tail = ""  # what raw output left on the cursor's line
        self._tty_stream: RemoteStream | None = None  # the PTY's output (first watched)
        self._remote_prompts = False  # the remote has shown a prompt of its own
        self._echo_to_drop = ""  # the tty's own echo of type-ahead, still to come
        self._prompt_when_typed = ""
        self._stale_timer: asyncio.TimerHandle | None = None
        self._line_prefix = ""  # our local prompt, for the echo of the line sent at it
        self._echoes_due = 0  # lines sent whose echo has not come yet: not an answer

    @property
    def keys_to_program(self) -> bool:
        """True while keys go straight to the remote program."""
        return self.raw

    def route(self, stream: RemoteStream, text: str, watch: bool) -> None:
        """Paint ``text``: line-split for the editor, or as it is while the program reads
        keys itself; ``watch`` it (PTY output) for what changes who reads keys."""
        first_output = bool(text) and not self.status.remote_spoke
        if text:
            self.status.remote_spoke = True
        if "\x1b]" in text:
            self._note_reports(text)
        if stream.stripper is not None:
            text = stream.stripper.feed(text)
        if self.words is not None and text:
            self.words.feed(text)
        if not watch:
            self._paint(stream, text)
            return
        self._tty_stream = stream
        if self._echo_to_drop:
            text = self._drop_echo(stream, text)
        done = 0
        for mark in MODE_MARK.finditer(text):
            self._paint(stream, text[done : mark.start()])
            was_raw = self.raw
            self.mode.note_mark(mark)
            if self.mode.reading_line:
                self._line_editor_reads(redraw=first_output)
            self._leave_dead_screen()
            if self.mode.tty_stale:
                self._trust_tty_later()
            self._follow_mode(stream)
            if was_raw or self.raw:
                self._paint_raw(mark.group(0))
            done = mark.end()
        self._paint(stream, text[done:])

    def _line_editor_reads(self, *, redraw: bool) -> None:
        """A line editor waits for a line: the remote is no longer busy. At the start
        (``redraw``: the remote's first output) that changes the prompt even when no text
        comes with it: a program whose prompt is empty (bc -q, whose only output is
        readline's mark) gets the local one now, and nothing else would redraw it. Not
        later: the mark may be a full-screen program's (vim's bracketed paste) that the
        tty watcher has yet to report, and a redraw then would paint over its screen."""
        was_busy = self.status.busy_since is not None
        remote_ready(self.status)
        self._echoes_due = 0
        if was_busy and redraw:
            self.events.prompt_changed()

    def before_next_line(self, text: str) -> None:
        """Paint ``text`` (the local prompt a line was typed at) before the next complete
        line of output, the remote's echo of that line: both in one paint."""
        self._line_prefix = text

    def line_sent(self, line: str) -> None:
        """A line went to the PTY: its echo comes back first, and is not yet the answer
        that makes a program without a prompt of its own (bc) idle again."""
        tty = self.mode.tty
        if tty is None or tty.echo or not tty.canonical:
            self._echoes_due += line.count("\n") + 1

    def typed_ahead(self, line: str) -> None:
        """A line goes out while the remote is busy. A tty in line mode with echo on
        echoes it at once; a line REPL (python, node) echoes it again when it reads it,
        after its prompt, which is where it belongs: there the tty's copy (the same text,
        arriving before any prompt) is dropped. Anything else (cat, ``read``, a shell's
        job) may never echo it again: the tty's copy stays, as under ``ssh -t``."""
        if self.mode.line_repl_in_front:
            self._echo_to_drop += line.replace("\n", "\r\n") + "\r\n"
            # The prompt the line before was typed at may still be the partial line.
            stream = self._tty_stream
            self._prompt_when_typed = stream.splitter.partial if stream is not None else ""

    def _drop_echo(self, stream: RemoteStream, text: str) -> str:
        partial = stream.splitter.partial
        if partial != self._prompt_when_typed and prompt_text(partial):
            self._echo_to_drop = ""  # a prompt came first: the echo now is the program's
            return text
        expected = self._echo_to_drop
        # It comes at once, at a line start (maybe after the echo of the line before).
        found = text.find(expected)
        if found == 0 or (found > 0 and text[found - 1] == "\n"):
            self._echo_to_drop = ""
            return text[:found] + text[found + len(expected) :]
        if expected.startswith(text):  # arriving in pieces
            self._echo_to_drop = expected[len(text) :]
            return ""
        return text  # not (yet) here

    def _trust_tty_later(self) -> None:
        if self._stale_timer is not None:
            self._stale_timer.cancel()
        rtt = self.status.rtt if self.status.rtt is not None else 0.1
        self._stale_timer = asyncio.get_running_loop().call_later(
            STALE_FOR + 2 * rtt, self._trust_tty
        )

    def _trust_tty(self) -> None:
        """No report since the hand-over: the terminal's mode did not change."""
        self._stale_timer = None
        if self.mode.tty_stale and self._tty_stream is not None:
            self.mode.tty_stale = False
            self._follow_mode(self._tty_stream)
            self.events.prompt_changed()  # the report may mean a secret: hide it at once

    def tty_changed(self, tty: TtyMode | None) -> None:
        """The watcher's report on the remote terminal's modes."""
        if self._stale_timer is not None:
            self._stale_timer.cancel()
            self._stale_timer = None
        was_secret = self.mode.secret
        self.mode.note_tty(tty)
        self._leave_dead_screen()
        if self._tty_stream is not None:
            self._follow_mode(self._tty_stream)
        if self.mode.secret != was_secret:
            self.events.prompt_changed()  # what was typed is hidden (or shown) at once

    def _leave_dead_screen(self) -> None:
        """The shell reads a line at its prompt while a full-screen or keypad program's
        modes are still on: that program is gone (killed, or a stray escape). Leave its
        modes on the local terminal too, and the editor comes back."""
        if self.mode.shell_at_prompt and (self.mode.fullscreen or self.mode.keypad):
            # Not part of the remote's line (the prompt): painted, never repeated.
            self.painter.queue(
                "\x1b[?1049l\x1b[?1l\x1b>" if self.mode.fullscreen else "\x1b[?1l\x1b>"
            )
            self.mode.fullscreen = self.mode.keypad = False

    def _follow_mode(self, stream: RemoteStream) -> None:
        """Switch painting (and tell the front end) when who reads keys changed."""
        raw = self.mode.keys_to_program
        if raw == self.raw:
            return
        self.raw = raw
        if raw:
            # The prompt on the screen was the partial line: it goes back as output.
            self._raw_tail = stream.splitter.take_partial()
            self.painter.queue(self._raw_tail)
            self.events.keys_to_program()
        else:
            # The line raw output left unfinished becomes the prompt.
            tail, self._raw_tail = self._raw_tail, ""
            if prompt_text(tail):
                self.painter.queue("\r\x1b[K")
                stream.splitter.partial = tail
            self.events.keys_to_editor()

    def _paint_raw(self, text: str) -> None:
        if text:
            self.painter.queue(text)
            _, newline, tail = text.rpartition("\n")
            tail = tail if newline else self._raw_tail + tail
            self._raw_tail = tail[-MAX_PROMPT:]  # a prompt when the editor is back

    def _paint(self, stream: RemoteStream, text: str) -> None:
        if not text:
            return
        if self.raw:
            self._paint_raw(text)
            return
        if "\x1b" in text and TERMINAL_QUERY.search(text):
            self.events.query_sent()
        lines = stream.lines(text)
        reset = stream.splitter.take_screen_reset()
        if len(stream.splitter.partial) > MAX_PROMPT:  # a long line, not a prompt
            reset += stream.splitter.take_overlong(self.painter.output.get_size().columns)
        answered = bool(lines)
        if lines and self._echoes_due:
            echoes = min(lines.count("\n"), self._echoes_due)
            self._echoes_due -= echoes
            answered = lines.count("\n") > echoes
        # A partial line while an echo is still due is that echo arriving in pieces.
        prompting = not self._echoes_due and prompt_text(stream.splitter.partial)
        if self.status.busy_since is not None and (
            prompting or (answered and not self._remote_prompts)
        ):
            remote_ready(self.status)  # a prompt again (or an answer, for bc)
        if lines and self._line_prefix:
            # The echo may start with a carriage return: it must not paint over our prompt.
            lines, self._line_prefix = self._line_prefix + lines.lstrip("\r"), ""
        if lines or reset:
            self.painter.queue(lines + reset)
        else:
            self.events.prompt_changed()

    def stream_ended(self) -> None:
        """One of the remote's streams has ended (the painter counts them)."""
        self.painter.stream_ended()

    @property
    def remote_prompts(self) -> bool:
        """True once the remote has shown a prompt of its own."""
        return self._remote_prompts

    def prompt_seen(self) -> None:
        """The remote showed a prompt of its own: from now on, output alone does not mean
        it is idle again (only its prompt does). A partial line while an echo is due is
        that echo, not a prompt."""
        if not self._echoes_due:
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
