"""remoterepl.ssh.fastimport.import_asyncssh, in a fresh interpreter each time.

What it must leave behind: asyncio and asyncssh imported without ``ssl`` and
``asyncssh.crypto.x509``; no finder of its own left in ``sys.meta_path``;
``ctypes.util.find_library`` the original function again; and ``ssl`` importable later.
(That asyncssh still negotiates with OpenSSH after this import is covered by every
end-to-end test, which run the installed command.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.client_env import ClientEnv

pytestmark = pytest.mark.timeout(120)

PROBE = textwrap.dedent(
    """
    import ctypes.util
    import json
    import sys

    original_find_library = ctypes.util.find_library
    from remoterepl.ssh import fastimport

    facts = {}
    try:
        fastimport.import_asyncssh()
    except BaseException as exc:
        facts["error"] = repr(exc)
    facts["asyncio imported"] = "asyncio" in sys.modules
    facts["asyncssh imported"] = "asyncssh" in sys.modules
    facts["ssl imported"] = "ssl" in sys.modules
    facts["x509 imported"] = "asyncssh.crypto.x509" in sys.modules
    facts["finders left"] = [type(f).__name__ for f in sys.meta_path
                             if type(f).__module__ == fastimport.__name__]
    facts["find_library restored"] = ctypes.util.find_library is original_find_library
    if "twice" in sys.argv:
        meta_path = list(sys.meta_path)
        fastimport.import_asyncssh()
        facts["second call changed meta_path"] = sys.meta_path != meta_path
        facts["find_library restored after second call"] = (
            ctypes.util.find_library is original_find_library)
    import ssl
    facts["ssl importable later"] = hasattr(ssl, "SSLContext")
    # Importing it for real also needs pyOpenSSL (not a dependency): only check that the
    # import system would look for it again.
    import importlib.util
    facts["x509 findable later"] = importlib.util.find_spec("asyncssh.crypto.x509") is not None
    print(json.dumps(facts))
    """
)


def probe(*args: str) -> dict[str, Any]:
    """Run PROBE in a fresh interpreter; return the facts it printed."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    facts: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return facts


def test_import_asyncssh_skips_the_optional_modules_and_cleans_up() -> None:
    """asyncio and asyncssh are imported, ssl and asyncssh.crypto.x509 are not; the finder
    is gone and find_library restored; both modules import normally afterwards."""
    facts = probe()
    assert facts == {
        "asyncio imported": True,
        "asyncssh imported": True,
        "ssl imported": False,
        "x509 imported": False,
        "finders left": [],
        "find_library restored": True,
        "ssl importable later": True,
        "x509 findable later": True,
    }


def test_second_call_is_harmless() -> None:
    """Calling import_asyncssh() again changes nothing and leaves nothing behind."""
    facts = probe("twice")
    assert "error" not in facts
    assert facts["second call changed meta_path"] is False
    assert facts["find_library restored after second call"] is True
    assert facts["finders left"] == []
    assert facts["ssl importable later"] is True


def test_control_a_plain_import_does_load_ssl() -> None:
    """Control: without import_asyncssh(), importing asyncio and asyncssh loads ``ssl``
    (otherwise the test above would pass for nothing)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, asyncio, asyncssh; print('ssl' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


def test_start_up_sets_the_imported_modules_aside_and_collects_again(
    embedded_env: ClientEnv,
) -> None:
    """cli.main() loads its modules with the garbage collector off, then freezes them (kept
    out of every later collection, the one at exit too) and turns the collector back on:
    a run that left it off would never free a cycle again."""
    code = textwrap.dedent(
        f"""
        import gc, json
        from remoterepl.cli import main
        status = main([{embedded_env.user_alias!r}, "true"])
        print(json.dumps({{"status": status, "enabled": gc.isenabled(),
                           "frozen": gc.get_freeze_count()}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=embedded_env.env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.splitlines()[-1])
    assert facts["status"] == 0
    assert facts["enabled"] is True
    assert facts["frozen"] > 20_000  # asyncio, asyncssh, cryptography, remoterepl: ~49,000


def test_tuning_can_be_switched_off_for_bisecting(embedded_env: ClientEnv) -> None:
    """REMOTEREPL_NO_TUNING=1: the same run works with none of the tuning: nothing frozen,
    asyncio's ssl loaded as usual, glibc's heap thresholds left alone."""
    code = textwrap.dedent(
        f"""
        import gc, json, sys
        before = gc.get_freeze_count()  # Python 3.12.1 starts with 375 frozen
        from remoterepl.cli import main
        status = main([{embedded_env.user_alias!r}, "echo untuned"])
        print(json.dumps({{"status": status, "frozen": gc.get_freeze_count() - before,
                           "ssl": "ssl" in sys.modules}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**embedded_env.env, "REMOTEREPL_NO_TUNING": "1"},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "untuned"
    facts = json.loads(done.stdout.splitlines()[-1])
    assert facts == {"status": 0, "frozen": 0, "ssl": True}
