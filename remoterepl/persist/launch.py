"""The remote commands that run the session holder: :mod:`.holder`'s own source travels
inside each command (compressed), so nothing is installed on the host and a client always
runs the holder it was built with."""

from __future__ import annotations

import base64
import functools
import shlex
import zlib
from pathlib import Path

from remoterepl.session.helpers import side_command

NO_PYTHON = 127  # the status of a holder command on a host without python3
HOLDER_FAILED = (3, 4)  # the holder's own refusals (its one line is on stderr)


@functools.cache
def _program() -> str:
    source = Path(__file__).with_name("holder.py").read_bytes()
    packed = base64.b64encode(zlib.compress(source, 9)).decode("ascii")
    return f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{packed}')))"


def holder_command(*args: str) -> str:
    """The command that runs the holder with ``args`` (``attach NAME``, ``list``...):
    status :data:`NO_PYTHON` where the host has no python3."""
    words = " ".join(shlex.quote(arg) for arg in args)
    return side_command(
        f"command -v python3 >/dev/null 2>&1 || exit {NO_PYTHON}; "
        f"exec python3 -c {shlex.quote(_program())} {words}"
    )
