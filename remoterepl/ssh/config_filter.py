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
from collections.abc import Callable
from dataclasses import dataclass

from remoterepl.ssh import compat
from remoterepl.ssh.config_check import split_line


@dataclass(frozen=True)
class _Block:
    """Consecutive lines of a config file: a Host block (with its matcher), or what is
    kept for every host (the lines before the first block, a Match block)."""

    selects: Callable[[str], bool] | None  # None: kept for every host
    text: str


def _blocks(lines: tuple[str, ...]) -> tuple[_Block, ...]:
    """The file as blocks, each Host block's patterns compiled once."""
    blocks: list[_Block] = []
    selects: Callable[[str], bool] | None = None
    current: list[str] = []
    for line in lines:
        try:
            words = split_line(line)
        except ValueError:  # unbalanced quotes: checked (and refused) before this
            words = None
        keyword = words[0].lower() if words is not None else ""
        if keyword in ("host", "match"):
            blocks.append(_Block(selects, "".join(current)))
            current = []
            selects = (
                compat.config_host_matcher(",".join(words[1]))
                if words and keyword == "host"
                else None
            )
        current.append(line)
    blocks.append(_Block(selects, "".join(current)))
    return tuple(blocks)


def lines_for_host(lines: tuple[str, ...], host: str) -> str:
    """The text of a config file's lines that can apply to ``host``."""
    return _text_for_host(_blocks(lines), host)


def _text_for_host(blocks: tuple[_Block, ...], host: str) -> str:
    return "".join(b.text for b in blocks if b.selects is None or b.selects(host))


@functools.lru_cache(maxsize=16)
def _read(path: str, identity: tuple[int, int, int, int]) -> tuple[_Block, ...]:
    """The file as blocks, read once per version of it (``identity``: its stat)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as file:
        return _blocks(tuple(file))


def copy_for_host(path: str, host: str, directory: str) -> str:
    """A copy of config file ``path`` with only what can apply to ``host``, in
    ``directory``; ``path`` itself when it is not a regular file (``-F /dev/null``)."""
    info = os.stat(path)
    if not os.path.isfile(path):
        return path
    blocks = _read(path, (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns))
    digest = hashlib.sha256(f"{path}\0{host}".encode(errors="surrogateescape")).hexdigest()
    copy = os.path.join(directory, f"user-{digest[:16]}")
    with open(copy, "w", encoding="utf-8", errors="surrogateescape") as file:
        file.write(_text_for_host(blocks, host))
    return copy
