"""Process tuning, in one place and switchable off for bisecting
(``REMOTEREPL_NO_TUNING=1``): none of it changes what remoterepl does, only how fast.

- **Start-up**: the modules loaded at start (~50,000 objects the garbage collector
  tracks) live as long as the process; the collector would walk them again and again while
  they load, and once more at exit (~60 ms of a ~350 ms run). They are loaded with it off,
  then frozen (set aside for good). The line editor's modules are frozen the same way once
  loaded. asyncssh is imported without the parts remoterepl never uses
  (:mod:`remoterepl.ssh.fastimport`).
- **The heap**: streaming allocates and frees buffers of a few hundred KiB (stdin chunks,
  SSH packets, their encrypted copies) all the time. With glibc's default, self-adjusting
  thresholds the heap top is handed back to the kernel as soon as 512 KiB lie free there,
  and taken back a moment later: every byte uploaded cost about a page fault's worth of
  zeroed memory (480,000 page faults and 1.6 s of system time for 512 MiB; ssh: 900
  faults). Fixed thresholds keep up to 32 MiB of free heap for reuse: the same peak memory
  in practice (the buffers in flight are bounded by flow control), half the CPU per
  uploaded byte. After a burst a process may keep that much freed heap until it ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
from collections.abc import Iterator

from remoterepl.ssh.fastimport import import_asyncssh

#: Set (to anything but "") to run without any of this, e.g. to bisect a problem.
DISABLE_VARIABLE = "REMOTEREPL_NO_TUNING"


def enabled() -> bool:
    """False when the environment turns tuning off."""
    return not os.environ.get(DISABLE_VARIABLE)


@contextlib.contextmanager
def start_up() -> Iterator[None]:
    """Around the start-up imports: the collector off, asyncio and asyncssh loaded the fast
    way and the heap thresholds fixed on entry; what was loaded frozen on exit. The
    tuning steps never raise (a failure leaves the process untuned); the block's own
    errors pass through."""
    if not enabled():
        yield
        return
    gc.disable()
    try:
        # Each step is only ever a speed-up: one failing leaves the other in place.
        with contextlib.suppress(Exception):
            import_asyncssh()  # before anything imports asyncio or asyncssh the slow way
        with contextlib.suppress(Exception):
            keep_heap_warm()
        yield
    finally:
        gc.freeze()
        gc.enable()


def freeze_loaded_modules() -> None:
    """Set aside what is loaded now (the line editor's modules), as at start-up: no
    collector walks over them during the session."""
    if enabled():
        gc.freeze()


# mallopt() parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

TRIM_THRESHOLD = 32 * 1024 * 1024  # free heap top kept before giving memory back
TOP_PAD = 4 * 1024 * 1024  # extra heap taken per growth: fewer brk() calls
MMAP_THRESHOLD = 32 * 1024 * 1024  # smaller blocks come from the heap (glibc's own maximum)
# The user's own malloc tuning wins: then nothing is changed.
_USER_SETTINGS = (
    "GLIBC_TUNABLES",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_MMAP_MAX_",
)


def keep_heap_warm() -> bool:
    """Set fixed malloc thresholds (glibc only, and only when the environment sets none;
    elsewhere nothing). True if applied."""
    if any(os.environ.get(name) for name in _USER_SETTINGS):
        return False
    with contextlib.suppress(ValueError, OSError):
        if (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            mallopt = ctypes.CDLL(None).mallopt
            return all(
                mallopt(param, value) == 1
                for param, value in (
                    (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                    (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                    (_M_TOP_PAD, TOP_PAD),
                )
            )
    return False
