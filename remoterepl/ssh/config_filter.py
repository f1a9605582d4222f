"""ssh_config cut down to what can apply to one host, for runs that read it once per host
(many hosts): with one ``Host`` block per machine, every host would otherwise parse every
block, twice (route planning and asyncssh's connect), and set-up would grow with hosts x
lines.

The copy keeps every line outside ``Host`` blocks, every ``Match`` block as it is (its
conditions are only known while connecting), and the ``Host`` blocks whose patterns select
the host -- matched as asyncssh matches them, against the name the host was given. So
asyncssh reads the copy to the same result. Include lines stay where they were (the files
they name are read as usual: relative names resolve against ~/.ssh either way).
"""

from __future__ import annotations

import functools
import hashlib
import os

from remoterepl.ssh import compat
from remoterepl.ssh.config_check import split_line


def lines_for_host(lines: tuple[str, ...], host: str) -> list[str]:
    """The lines of a config file that can apply to ``host``."""
    kept: list[str] = []
    keep = True
    for line in lines:
        try:
            words = split_line(line)
        except ValueError:  # unbalanced quotes: checked (and refused) before this
            words = None
        if words is not None:
            keyword = words[0].lower()
            if keyword == "host":
                keep = compat.config_host_matches(",".join(words[1]), host)
            elif keyword == "match":
                keep = True
        if keep:
            kept.append(line)
    return kept


@functools.lru_cache(maxsize=16)
def _read(path: str, identity: tuple[int, int, int, int]) -> tuple[str, ...]:
    """The file's lines, read once per version of it (``identity``: its stat)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as file:
        return tuple(file)


def copy_for_host(path: str, host: str, directory: str) -> str:
    """A copy of config file ``path`` with only what can apply to ``host``, in
    ``directory``; ``path`` itself when it is not a regular file (``-F /dev/null``)."""
    info = os.stat(path)
    if not os.path.isfile(path):
        return path
    lines = _read(path, (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns))
    digest = hashlib.sha256(f"{path}\0{host}".encode(errors="surrogateescape")).hexdigest()
    copy = os.path.join(directory, f"user-{digest[:16]}")
    with open(copy, "w", encoding="utf-8", errors="surrogateescape") as file:
        file.writelines(lines_for_host(lines, host))
    return copy
