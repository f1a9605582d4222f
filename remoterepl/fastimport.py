"""Import asyncssh without its slowest start-up step.

asyncssh probes for optional C libraries (liboqs, nettle) with ``ctypes.util.find_library``.
When a library is absent, CPython falls back to running ``gcc`` and ``ld`` to look for it:
20-60 ms of every remoterepl start. The ldconfig cache alone answers the same question
for installed libraries, so the probe consults only that while asyncssh is imported.
"""

from __future__ import annotations

import ctypes.util
import importlib


def import_asyncssh() -> None:
    """Import asyncssh (idempotent), resolving its optional libraries via ldconfig only."""
    ldconfig_only = getattr(ctypes.util, "_findSoname_ldconfig", None)
    if ldconfig_only is None:  # not Linux, or CPython changed: the ordinary (slow) way
        importlib.import_module("asyncssh")
        return
    original = ctypes.util.find_library
    ctypes.util.find_library = ldconfig_only
    try:
        importlib.import_module("asyncssh")
    finally:
        ctypes.util.find_library = original
