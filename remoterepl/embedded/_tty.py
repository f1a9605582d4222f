"""Pseudo-terminal helpers for the embedded server: open, size, and apply SSH terminal modes."""

from __future__ import annotations

import fcntl
import os
import struct
import sys
import termios
from collections.abc import Mapping

import asyncssh

TermSize = tuple[int, int, int, int]  # width, height, pixel width, pixel height (SSH order)

# RFC 4254 §8 opcodes -> termios control-character names.
_CONTROL_CHARS: dict[int, str] = {
    asyncssh.PTY_VINTR: "VINTR",
    asyncssh.PTY_VQUIT: "VQUIT",
    asyncssh.PTY_VERASE: "VERASE",
    asyncssh.PTY_VKILL: "VKILL",
    asyncssh.PTY_VEOF: "VEOF",
    asyncssh.PTY_VEOL: "VEOL",
    asyncssh.PTY_VEOL2: "VEOL2",
    asyncssh.PTY_VSTART: "VSTART",
    asyncssh.PTY_VSTOP: "VSTOP",
    asyncssh.PTY_VSUSP: "VSUSP",
    asyncssh.PTY_VDSUSP: "VDSUSP",
    asyncssh.PTY_VREPRINT: "VREPRINT",
    asyncssh.PTY_WERASE: "VWERASE",
    asyncssh.PTY_VLNEXT: "VLNEXT",
    asyncssh.PTY_VFLUSH: "VFLUSH",
    asyncssh.PTY_VSWTCH: "VSWTCH",
    asyncssh.PTY_VSTATUS: "VSTATUS",
    asyncssh.PTY_VDISCARD: "VDISCARD",
}

_IFLAG, _OFLAG, _CFLAG, _LFLAG, _ISPEED, _OSPEED, _CC = range(7)

# RFC 4254 §8 opcodes -> (index into tcgetattr's list, termios flag name).
_FLAGS: dict[int, tuple[int, str]] = {
    asyncssh.PTY_IGNPAR: (_IFLAG, "IGNPAR"),
    asyncssh.PTY_PARMRK: (_IFLAG, "PARMRK"),
    asyncssh.PTY_INPCK: (_IFLAG, "INPCK"),
    asyncssh.PTY_ISTRIP: (_IFLAG, "ISTRIP"),
    asyncssh.PTY_INLCR: (_IFLAG, "INLCR"),
    asyncssh.PTY_IGNCR: (_IFLAG, "IGNCR"),
    asyncssh.PTY_ICRNL: (_IFLAG, "ICRNL"),
    asyncssh.PTY_IUCLC: (_IFLAG, "IUCLC"),
    asyncssh.PTY_IXON: (_IFLAG, "IXON"),
    asyncssh.PTY_IXANY: (_IFLAG, "IXANY"),
    asyncssh.PTY_IXOFF: (_IFLAG, "IXOFF"),
    asyncssh.PTY_IMAXBEL: (_IFLAG, "IMAXBEL"),
    asyncssh.PTY_IUTF8: (_IFLAG, "IUTF8"),
    asyncssh.PTY_ISIG: (_LFLAG, "ISIG"),
    asyncssh.PTY_ICANON: (_LFLAG, "ICANON"),
    asyncssh.PTY_XCASE: (_LFLAG, "XCASE"),
    asyncssh.PTY_ECHO: (_LFLAG, "ECHO"),
    asyncssh.PTY_ECHOE: (_LFLAG, "ECHOE"),
    asyncssh.PTY_ECHOK: (_LFLAG, "ECHOK"),
    asyncssh.PTY_ECHONL: (_LFLAG, "ECHONL"),
    asyncssh.PTY_NOFLSH: (_LFLAG, "NOFLSH"),
    asyncssh.PTY_TOSTOP: (_LFLAG, "TOSTOP"),
    asyncssh.PTY_IEXTEN: (_LFLAG, "IEXTEN"),
    asyncssh.PTY_ECHOCTL: (_LFLAG, "ECHOCTL"),
    asyncssh.PTY_ECHOKE: (_LFLAG, "ECHOKE"),
    asyncssh.PTY_PENDIN: (_LFLAG, "PENDIN"),
    asyncssh.PTY_OPOST: (_OFLAG, "OPOST"),
    asyncssh.PTY_OLCUC: (_OFLAG, "OLCUC"),
    asyncssh.PTY_ONLCR: (_OFLAG, "ONLCR"),
    asyncssh.PTY_OCRNL: (_OFLAG, "OCRNL"),
    asyncssh.PTY_ONOCR: (_OFLAG, "ONOCR"),
    asyncssh.PTY_ONLRET: (_OFLAG, "ONLRET"),
    asyncssh.PTY_PARENB: (_CFLAG, "PARENB"),
    asyncssh.PTY_PARODD: (_CFLAG, "PARODD"),
}

# Python's termios module lacks IUTF8 before 3.13; the Linux value is stable.
_FALLBACK_FLAGS = {"IUTF8": 0o40000} if sys.platform.startswith("linux") else {}

_CHAR_SIZES = {asyncssh.PTY_CS7: "CS7", asyncssh.PTY_CS8: "CS8"}
_VDISABLE = 255  # RFC 4254 uses 255 for "character disabled"


def open_pty(size: TermSize, modes: Mapping[int, int]) -> tuple[int, int]:
    """Open a pty with the given SSH window size and terminal modes; return (master, slave)."""
    master, slave = os.openpty()
    try:
        set_window_size(master, size)
        apply_modes(slave, modes)
    except OSError:
        os.close(master)
        os.close(slave)
        raise
    os.set_blocking(master, False)
    return master, slave


def set_window_size(fd: int, size: TermSize) -> None:
    """Set a pty's window size from SSH (width, height, pixwidth, pixheight) order."""
    width, height, pixwidth, pixheight = (min(max(v, 0), 0xFFFF) for v in size)
    winsize = struct.pack("HHHH", height, width, pixwidth, pixheight)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, winsize)


def apply_modes(fd: int, modes: Mapping[int, int]) -> None:
    """Apply SSH pty-req terminal modes (RFC 4254 §8) to a terminal fd via termios."""
    if not modes:
        return
    attrs = termios.tcgetattr(fd)
    for opcode, value in modes.items():
        _apply_mode(attrs, opcode, value)
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _apply_mode(attrs: list[object], opcode: int, value: int) -> None:
    """Apply one terminal mode to a tcgetattr() list in place; unknown modes are ignored."""
    if opcode in _CONTROL_CHARS:
        index = getattr(termios, _CONTROL_CHARS[opcode], None)
        cc = attrs[_CC]
        if isinstance(index, int) and isinstance(cc, list) and index < len(cc):
            cc[index] = bytes([0 if value == _VDISABLE else value & 0xFF])
    elif opcode in _FLAGS:
        slot, name = _FLAGS[opcode]
        bit = getattr(termios, name, _FALLBACK_FLAGS.get(name))
        if isinstance(bit, int):
            attrs[slot] = _set_bits(attrs[slot], bit, bool(value))
    elif opcode in _CHAR_SIZES and value:
        attrs[_CFLAG] = _set_bits(attrs[_CFLAG], termios.CSIZE, False) | getattr(
            termios, _CHAR_SIZES[opcode]
        )
    elif opcode in (asyncssh.PTY_OP_ISPEED, asyncssh.PTY_OP_OSPEED):
        speed = getattr(termios, f"B{value}", None)
        if isinstance(speed, int):
            attrs[_ISPEED if opcode == asyncssh.PTY_OP_ISPEED else _OSPEED] = speed


def _set_bits(flags: object, bits: int, on: bool) -> int:
    """Return flags with bits set or cleared."""
    assert isinstance(flags, int)
    return flags | bits if on else flags & ~bits
