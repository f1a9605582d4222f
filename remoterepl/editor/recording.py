"""--record FILE: the session as an asciicast v2 file, replayable with ``asciinema play``.

Line 1 is a JSON header; then one JSON array per event: ``[seconds, "o", text]`` for what
the terminal was sent (remote output and the editor's own drawing), ``[seconds, "i",
text]`` for each line sent to the remote (a secret line is never recorded), and
``[seconds, "r", "COLSxROWS"]`` for a window resize.
"""

from __future__ import annotations

import json
import os
import stat
import time
from typing import IO, TextIO

from remoterepl.display import shown
from remoterepl.errors import UsageError


class Recorder:
    """Appends asciicast v2 events to a file created with mode 0600."""

    def __init__(self, file: IO[str], width: int, height: int, title: str) -> None:
        self._file = file
        self._start = time.monotonic()
        header = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": int(time.time()),
            "title": title,
            "env": {k: os.environ[k] for k in ("TERM", "SHELL") if k in os.environ},
        }
        file.write(json.dumps(header) + "\n")

    @classmethod
    def create(cls, path: str, width: int, height: int, title: str) -> Recorder:
        """Create or truncate ``path``, mode 0600 even when it existed with another mode
        (it will hold what the terminal showed), and write the header; UsageError if it
        can't, or if ``path`` is not a regular file (a FIFO would block the session)."""
        name = f"--record file '{shown(path)}'"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise UsageError(f"can't open {name}: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UsageError(f"{name} is not a regular file")
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, 0)
            os.set_blocking(fd, True)
        except OSError as exc:
            os.close(fd)
            raise UsageError(f"can't use {name}: {exc.strerror}") from None
        except UsageError:
            os.close(fd)
            raise
        return cls(os.fdopen(fd, "w", encoding="utf-8", buffering=64 * 1024), width, height, title)

    def _event(self, code: str, data: str) -> None:
        elapsed = round(time.monotonic() - self._start, 6)
        self._file.write(json.dumps([elapsed, code, data], ensure_ascii=False) + "\n")

    def output(self, text: str) -> None:
        """Text sent to the terminal."""
        if text:
            self._event("o", text)

    def input(self, text: str) -> None:
        """Input sent to the remote (never a secret)."""
        self._event("i", text)

    def resize(self, columns: int, rows: int) -> None:
        """The terminal window changed size."""
        self._event("r", f"{columns}x{rows}")

    def flush(self) -> None:
        """Push buffered events to the file."""
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


class RecordingStdout:
    """A stdout for prompt_toolkit's output that also records what it writes."""

    def __init__(self, stdout: TextIO, recorder: Recorder) -> None:
        self._stdout = stdout
        self._binary = stdout.buffer
        self.encoding = stdout.encoding or "utf-8"
        self.recorder = recorder

    def write(self, data: str) -> int:
        """Write to the terminal and record."""
        self._binary.write(data.encode(self.encoding, "replace"))
        self.recorder.output(data)
        return len(data)

    def flush(self) -> None:
        """Flush the terminal (the recording is flushed by the front end's clock)."""
        self._binary.flush()

    def fileno(self) -> int:
        """The terminal's descriptor (window size, blocking mode)."""
        return self._stdout.fileno()

    def isatty(self) -> bool:
        """Whether the real stdout is a terminal."""
        return self._stdout.isatty()
