"""Pipe mode's copy of a persisted session's output into local files (asyncssh's own
redirect serves only its channels)."""

from __future__ import annotations

import asyncio
import contextlib
import select
from typing import IO

from remoterepl.persist.streams import HeldStream


async def copy_out(stream: HeldStream, file: IO[bytes], bufsize: int) -> None:
    """Everything ``stream`` yields, into ``file`` (a blocking write in a thread: a slow
    reader holds the stream back, and through it the holder); ``file`` is closed at the
    end. A reader gone (EPIPE) ends the copy: pipe mode notices that on its own."""
    loop = asyncio.get_running_loop()
    try:
        while data := await stream.read(bufsize):
            await loop.run_in_executor(None, write_all, file, data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            file.close()


def write_all(file: IO[bytes], data: bytes) -> None:
    """All of ``data``, also into a non-blocking file (waits until it is writable)."""
    view = memoryview(data)
    while view:
        try:
            written = file.write(view)
        except BlockingIOError:
            written = None
        if written is None:
            select.select([], [file], [])
            continue
        view = view[written:]
