"""Pipe mode's copy of a persisted session's output into local files (asyncssh's own
redirect serves only its channels)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import IO

from remoterepl.modes.redirect import write_all
from remoterepl.persist.streams import HeldStream


async def copy_out(stream: HeldStream, file: IO[bytes], bufsize: int) -> None:
    """Everything ``stream`` yields, into ``file`` (a blocking write in a thread: a slow
    reader holds the stream back, and through it the holder); ``file`` is closed at the
    end. A reader gone (EPIPE) ends the copy: pipe mode notices that on its own."""
    loop = asyncio.get_running_loop()
    try:
        while data := await stream.read(bufsize):
            await loop.run_in_executor(None, write_all, file.fileno(), data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            file.close()
