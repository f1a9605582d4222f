"""Run the installed ``remoterepl`` command as users do: piped, or in a real pty with a screen.

* :func:`run_remoterepl` / :func:`start_remoterepl`: subprocess with pipes (pipe mode).
* :func:`spawn_remoterepl`: a :class:`Terminal` — the command in a pexpect pty whose output
  is fed into a pyte screen, so tests assert on what a person would see.

The command is the console script installed next to the running interpreter
(``.venv/bin/remoterepl``), never the source tree imported in-process.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import pexpect
import pyte
import pytest

from tests.system import descendants

Predicate = Callable[[str], bool]


def remoterepl_path() -> Path:
    """Path of the installed ``remoterepl`` console script (fails the test if missing)."""
    path = Path(sys.executable).parent / "remoterepl"
    if not path.exists():
        pytest.fail(f"{path} is not installed: run scripts/bootstrap", pytrace=False)
    return path


def remoterepl_command(args: Sequence[str]) -> list[str]:
    """Return the argv that runs the installed remoterepl with *args*."""
    return [str(remoterepl_path()), *args]


def run_remoterepl(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    input: bytes | None = b"",
    stdin: int | None = None,
    timeout: float = 60.0,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run remoterepl with *args* to completion, stdin fed from *input*, capturing output.

    The process gets its own session (no controlling terminal), as under CI or cron, so it
    can never prompt on ``/dev/tty``. Pass ``input=None, stdin=subprocess.DEVNULL`` for an
    empty non-pipe stdin. *wrap* may prefix the command (e.g. a private network namespace).
    """
    argv = remoterepl_command(args)
    if wrap is not None:
        argv = wrap(argv)
    return subprocess.run(
        argv,
        input=input,
        stdin=stdin,
        capture_output=True,
        env=dict(env),
        timeout=timeout,
        start_new_session=True,
    )


@contextlib.contextmanager
def start_remoterepl(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    stdin: int | None = subprocess.PIPE,
    stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.PIPE,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start remoterepl in its own session with pipes; kill it on exit if still running."""
    proc = subprocess.Popen(
        remoterepl_command(args),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=dict(env),
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        proc.wait(timeout=10)


def read_line_with_timeout(stream: IO[bytes], timeout: float) -> bytes:
    """Read one line from a binary pipe in a helper thread; fail the test after *timeout*."""
    result: list[bytes] = []

    def reader() -> None:
        result.append(stream.readline())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"no output line within {timeout}s")
    return result[0]


def shown_times(text: str, count: int) -> Predicate:
    """A screen predicate for :meth:`Terminal.wait_for_screen`: *text* appears *count* times."""
    return lambda screen: screen.count(text) == count


# --------------------------------------------------------------------------- error output


def stderr_lines(stderr: bytes) -> list[str]:
    """Non-empty lines of *stderr*, decoded leniently."""
    return [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]


def assert_one_line_error(stderr: bytes) -> str:
    """Assert *stderr* is exactly one non-empty line and no traceback; return that line."""
    text = stderr.decode("utf-8", "replace")
    assert "Traceback" not in text, f"traceback on stderr:\n{text}"
    lines = stderr_lines(stderr)
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{text}"
    return lines[0]


# --------------------------------------------------------------------------- terminal


class _ReplyingScreen(pyte.Screen):
    """A pyte screen that answers terminal queries (cursor position, device attributes)."""

    def __init__(self, columns: int, lines: int, reply: Callable[[str], None]) -> None:
        super().__init__(columns, lines)
        self._reply = reply

    def write_process_input(self, data: str) -> None:
        """Send the terminal's answer back to the program, as a real terminal would."""
        self._reply(data)

    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        """Colours as pyte knows them; private-mode SGR (vim's ``CSI > 4;2 m``,
        modifyOtherKeys) is a keyboard setting, which pyte would crash on: ignored."""
        if not private:
            super().select_graphic_rendition(*attrs)

    def cursor_position(self, line: int | None = None, column: int | None = None, *_: int) -> None:
        """Extra parameters are ignored, as xterm does (pyte would raise)."""
        super().cursor_position(line, column)


_RUN = re.compile(rb"[\x20-\x7e]+")


def _shortened_runs(data: bytes, rows: int, cols: int) -> bytes:
    """*data* with each run of printable ASCII that fills the whole screen several times
    over cut by whole rows from its start: the screen ends the same (the run's last rows,
    the cursor in the same column), and pyte, which draws about 250 KB/s, keeps up with
    the multi-megabyte lines of the output tests."""
    keep = (rows + 2) * cols
    if len(data) <= keep + cols:
        return data

    def shorten(run: re.Match[bytes]) -> bytes:
        text = run.group()
        drop = (len(text) - keep) // cols * cols
        return text[drop:] if drop > 0 else text

    return _RUN.sub(shorten, data)


class Terminal:
    """A program (normally the installed remoterepl) in a pty, rendered on a pyte screen.

    Output is only read while a ``wait_*`` method runs; everything read is fed to the screen
    and kept in :attr:`transcript`. The screen answers cursor-position requests, so
    prompt_toolkit sees a capable terminal.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        rows: int = 24,
        cols: int = 80,
        term: str = "xterm-256color",
    ) -> None:
        """Spawn *argv* in a *rows* x *cols* pty with ``TERM=term``."""
        child_env = dict(env)
        child_env["TERM"] = term
        child_env.setdefault("LANG", "C.UTF-8")
        child_env.pop("COLUMNS", None)
        child_env.pop("LINES", None)
        self.transcript = bytearray()
        self.screen = _ReplyingScreen(cols, rows, self._answer)
        self.stream = pyte.ByteStream(self.screen)
        self.child = pexpect.spawn(
            argv[0], list(argv[1:]), env=child_env, dimensions=(rows, cols), timeout=None
        )
        self.eof = False

    # -- input ----------------------------------------------------------------------------

    def _answer(self, data: str) -> None:
        if not self.eof:
            self.child.send(data.encode())

    def send(self, data: str | bytes) -> None:
        """Type *data* (no Enter)."""
        self.child.send(data)

    def sendline(self, line: str = "") -> None:
        """Type *line* and press Enter (carriage return, as a terminal sends it)."""
        self.child.send(line + "\r")

    def sendcontrol(self, char: str) -> None:
        """Press Ctrl+*char* (e.g. ``"c"``, ``"d"``)."""
        self.child.sendcontrol(char)

    def resize(self, rows: int, cols: int) -> None:
        """Resize the pty and the screen (the program gets SIGWINCH)."""
        self.screen.resize(rows, cols)
        self.child.setwinsize(rows, cols)

    # -- output ---------------------------------------------------------------------------

    def screen_lines(self) -> list[str]:
        """The screen rows, trailing spaces stripped."""
        return [line.rstrip() for line in self.screen.display]

    def screen_text(self) -> str:
        """The screen as text, one row per line, trailing blanks stripped."""
        return "\n".join(self.screen_lines()).rstrip("\n")

    @property
    def cursor(self) -> tuple[int, int]:
        """Cursor position as (row, column), zero-based."""
        return self.screen.cursor.y, self.screen.cursor.x

    def transcript_text(self) -> str:
        """Everything the program wrote, decoded leniently (escape sequences included)."""
        return self.transcript.decode("utf-8", "replace")

    def _pump(self, timeout: float) -> bool:
        """Read what arrives within *timeout* into the screen; False once at EOF."""
        if self.eof:
            return False
        try:
            data = self.child.read_nonblocking(size=65536, timeout=max(timeout, 0.0))
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            self.eof = True
            return False
        self.transcript += data
        self.stream.feed(_shortened_runs(data, self.screen.lines, self.screen.columns))
        return True

    def read_some(self, timeout: float) -> bool:
        """Read what arrives within *timeout* into the screen; False once at EOF."""
        return self._pump(timeout)

    def wait_for_screen(self, what: str | Predicate, timeout: float = 10.0) -> str:
        """Read output until the screen contains *what* (or *what(screen_text)* is true).

        Returns the screen text; fails the test with the screen and transcript tail on
        timeout or when the program exits first.
        """

        def check(text: str) -> bool:
            return what in text if isinstance(what, str) else what(text)

        deadline = time.monotonic() + timeout
        while True:
            text = self.screen_text()
            if check(text):
                return text
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._pump(min(remaining, 0.5)):
                if check(self.screen_text()):
                    return self.screen_text()
                reason = "program exited" if self.eof else f"timeout after {timeout}s"
                pytest.fail(f"screen never showed {what!r} ({reason})\n{self.describe()}")

    def wait_for_output(self, what: bytes | str, timeout: float = 10.0) -> None:
        """Read output until the raw transcript contains *what*."""
        needle = what.encode() if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        while needle not in self.transcript:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._pump(min(remaining, 0.5)):
                if needle in self.transcript:
                    return
                pytest.fail(f"output never contained {needle!r}\n{self.describe()}")

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Read until EOF and reap the program; return its status (128+N for signal N)."""
        deadline = time.monotonic() + timeout
        while self._pump(max(0.0, min(deadline - time.monotonic(), 0.5))):
            if time.monotonic() >= deadline:
                pytest.fail(f"program still running after {timeout}s\n{self.describe()}")
        waiter = threading.Thread(target=self.child.wait, daemon=True)
        waiter.start()
        waiter.join(max(0.1, deadline - time.monotonic()))
        if waiter.is_alive():
            pytest.fail(f"program closed its terminal but did not exit\n{self.describe()}")
        if self.child.signalstatus is not None:
            return 128 + int(self.child.signalstatus)
        return int(self.child.exitstatus)

    def describe(self) -> str:
        """A screen dump and the transcript tail, for failure messages."""
        border = "+" + "-" * self.screen.columns + "+"
        rows = "\n".join(f"|{line.ljust(self.screen.columns)}|" for line in self.screen.display)
        tail = bytes(self.transcript[-2000:])
        return f"screen (cursor {self.cursor}):\n{border}\n{rows}\n{border}\nlast output: {tail!r}"

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Kill the program if it still runs and release the pty."""
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close(force=True)

    def __enter__(self) -> Terminal:
        """Return self."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the terminal."""
        self.close()


def spawn_remoterepl(
    args: Sequence[str],
    env: Mapping[str, str],
    rows: int = 24,
    cols: int = 80,
    term: str = "xterm-256color",
) -> Terminal:
    """Start the installed remoterepl in a fresh *rows* x *cols* pty; use as a context manager."""
    return Terminal(remoterepl_command(args), env=env, rows=rows, cols=cols, term=term)


# --------------------------------------------------------------------------- screen helpers


def shell_prompt_shown(text: str) -> bool:
    """True when the last non-blank screen line is an idle shell prompt (``$`` or ``#``)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and lines[-1].rstrip().endswith(("$", "#"))


def client_pid(term: Terminal, timeout: float = 20) -> int:
    """The remoterepl process under the test's wrapper shell: the one running the console
    script (``python .../bin/remoterepl ...``), not a child the shell forked for ``stty``,
    which shows the shell's own command line, remoterepl's name in it, until it execs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in descendants(term.child.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(Path(os.fsdecode(arg)).name == "remoterepl" for arg in argv[:2]):
                return pid
        time.sleep(0.02)
    pytest.fail("remoterepl did not start")


def with_stty_record(args: Sequence[str], record: Path) -> list[str]:
    """sh argv: save ``stty -g`` to *record*, run remoterepl *args*, save it again, then
    print ``RC=<remoterepl's status>`` so the test can read it off the screen."""
    quoted = " ".join(f"'{a}'" for a in remoterepl_command(args))
    return ["sh", "-c", f"stty -g > {record}; {quoted}; rc=$?; stty -g >> {record}; echo RC=$rc"]


def assert_terminal_restored(record: Path) -> None:
    """The two ``stty -g`` lines of a :func:`with_stty_record` run are equal."""
    before, after = record.read_text().split()
    assert before == after
