"""--stdin/--stdout/--stderr files and stream merges, resolved into open file objects."""

from __future__ import annotations

import os
import select
from dataclasses import dataclass
from typing import IO

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.settings import Redirection


@dataclass
class Outputs:
    """Where remote stdout and stderr go: an open file, or None for our own stream.

    After a merge both fields hold the same target (``merged`` tells which way)."""

    stdout: IO[bytes] | None
    stderr: IO[bytes] | None
    merged: str | None = None  # "stderr-to-stdout" | "stdout-to-stderr"

    def close(self) -> None:
        """Close the files we opened."""
        for file in {id(f): f for f in (self.stdout, self.stderr) if f is not None}.values():
            file.close()


def _open(path: str, mode: str, what: str) -> IO[bytes]:
    try:
        return open(path, mode, buffering=0)  # closed by Outputs.close
    except OSError as exc:
        raise UsageError(f"can't open {what} file '{shown(path)}': {exc.strerror}") from None


def open_outputs(redirection: Redirection) -> Outputs:
    """Open --stdout/--stderr files (unbuffered, so output lands as it arrives)."""
    mode = "ab" if redirection.append else "wb"
    stdout = _open(redirection.stdout, mode, "--stdout") if redirection.stdout else None
    same_file = (
        redirection.stderr is not None
        and redirection.stdout is not None
        and os.path.realpath(redirection.stderr) == os.path.realpath(redirection.stdout)
    )
    if same_file:
        stderr = stdout
    else:
        stderr = _open(redirection.stderr, mode, "--stderr") if redirection.stderr else None
    if redirection.stderr_to_stdout:
        return Outputs(stdout, stdout, "stderr-to-stdout")
    if redirection.stdout_to_stderr:
        return Outputs(stderr, stderr, "stdout-to-stderr")
    return Outputs(stdout, stderr)


def open_stdin(redirection: Redirection) -> IO[bytes] | None:
    """The --stdin file, or None for our own stdin."""
    return _open(redirection.stdin, "rb", "--stdin") if redirection.stdin else None


def write_all(fd: int, data: bytes) -> None:
    """All of ``data``, blocking while the reader is slow, also when the fd was made
    non-blocking (asyncio and asyncssh set that on the fds they watch)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])
