"""Import asyncio and asyncssh without the parts of their start-up remoterepl never uses.

Importing them is most of remoterepl's start-up time, so two of their optional steps are
skipped while they are imported:

- Optional modules both libraries already treat as possibly missing (each import sits in
  ``try``/``except ImportError``) are reported missing: asyncio's TLS support (``ssl``;
  SSH needs no TLS) and asyncssh's X.509 certificate support (``asyncssh.crypto.x509``,
  which pulls in ``cryptography.x509``; it also needs pyOpenSSL, and OpenSSH has no X.509
  either). Together about a third of the import time.
- asyncssh probes for optional C libraries (liboqs, nettle) with ``ctypes.util.find_library``.
  When a library is absent, CPython falls back to running ``gcc`` and ``ld`` to look for it:
  20-60 ms. The ldconfig cache alone answers the same question for installed libraries,
  so the probe consults only that (unless LD_LIBRARY_PATH names more places to look).

Modules imported later are not affected (``import ssl`` works then), but asyncio keeps
running without TLS support for the rest of the process: remoterepl never uses TLS.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from remoterepl.ssh import compat

UNUSED_OPTIONAL_MODULES = frozenset({"ssl", compat.X509_MODULE})


class _ReportMissing:
    """A meta path finder (not subclassing importlib.abc: importing that costs 8 ms)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname in self.names:
            raise ModuleNotFoundError(f"{fullname} is not used by remoterepl", name=fullname)
        return None  # let the ordinary finders look


@contextlib.contextmanager
def _modules_missing(names: frozenset[str]) -> Iterator[None]:
    finder = _ReportMissing(names - sys.modules.keys())  # already there: nothing to skip
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


@contextlib.contextmanager
def _library_probe_via_ldconfig() -> Iterator[None]:
    ldconfig_only = compat.ldconfig_only_find_library()
    if ldconfig_only is None or os.environ.get("LD_LIBRARY_PATH"):
        # not Linux, CPython changed, or libraries outside the cache: the ordinary way
        yield
        return
    original = ctypes.util.find_library
    ctypes.util.find_library = ldconfig_only  # type: ignore[assignment]
    try:
        yield
    finally:
        ctypes.util.find_library = original


def import_asyncssh() -> None:
    """Import asyncio and asyncssh (idempotent) the fast way; see the module docstring."""
    if "asyncssh" in sys.modules:
        return
    with _modules_missing(UNUSED_OPTIONAL_MODULES), _library_probe_via_ldconfig():
        importlib.import_module("asyncio")
        importlib.import_module("asyncssh")
