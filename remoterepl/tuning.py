"""Keep glibc's heap from shrinking and regrowing under streaming traffic.

Streaming allocates and frees buffers of a few hundred KiB (stdin chunks, SSH packets,
their encrypted copies) all the time. With glibc's default, self-adjusting thresholds the
heap top is handed back to the kernel as soon as 512 KiB lie free there, and taken back a
moment later: every byte uploaded cost about a page fault's worth of zeroed memory (480,000
page faults and 1.6 s of system time for 512 MiB; ssh: 900 faults). Fixed thresholds keep up
to 32 MiB of free heap for reuse: the same peak memory in practice (the buffers in flight
are bounded by flow control), half the CPU per uploaded byte. After a burst a process may
keep that much freed heap until it ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

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
