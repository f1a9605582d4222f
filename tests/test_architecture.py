"""The architecture as rules the suite checks: the import contracts in pyproject.toml
(import-linter: layers point one way, asyncssh only in ssh/, prompt_toolkit/Pygments/
platformdirs only in editor/, ...), modules of a readable size, and a pipe-mode run that
loads nothing of the line editor."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client import remoterepl_command
from tests.client_env import ClientEnv

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "remoterepl"
MAX_LINES = 400
# The session holder is one self-contained file sent to the remote host's python3 inside the
# exec request (stdlib only, 3.6+): it cannot be split into modules of the package.
LONG_MODULES = {"remoterepl/persist/holder.py"}
EDITOR_LIBRARIES = ("prompt_toolkit", "pygments", "platformdirs")


def test_import_contracts_hold() -> None:
    """``lint-imports`` keeps every contract of pyproject.toml (lazy imports count)."""
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports is not None, "import-linter is not installed (the test extra has it)"
    proc = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kept = re.search(r"Contracts: (\d+) kept, 0 broken", proc.stdout)
    assert kept is not None and int(kept[1]) >= 6, proc.stdout


def test_no_module_is_a_god_module() -> None:
    """Every module of the package stays under MAX_LINES lines (but LONG_MODULES)."""
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 40, sizes  # the walk found the package
    too_long = {
        name: lines
        for name, lines in sizes.items()
        if lines > MAX_LINES and name not in LONG_MODULES
    }
    assert not too_long, too_long


def _imported_modules(stderr: bytes) -> set[str]:
    """Top-level names of the modules ``-X importtime`` reports as imported."""
    found = re.findall(rb"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", stderr, re.MULTILINE)
    return {name.decode().split(".")[0] for name in found}


@pytest.mark.parametrize("many", [False, True], ids=["one-host", "many-hosts"])
def test_pipe_mode_loads_no_editor_library(embedded_env: ClientEnv, many: bool) -> None:
    """``echo 6*7 | remoterepl HOST bc`` (and ``--hosts HOST``) imports asyncssh but none
    of prompt_toolkit, Pygments or platformdirs (start-up time and memory are the pipe's),
    nor PyYAML without a YAML inventory."""
    where = ["--hosts", embedded_env.user_alias] if many else [embedded_env.user_alias]
    proc = subprocess.run(
        remoterepl_command([*where, "bc"]),
        input=b"6*7\n",
        capture_output=True,
        env={**embedded_env.env, "PYTHONPROFILEIMPORTTIME": "1"},
        timeout=60,
    )
    expected = f"{embedded_env.user_alias}: 42\n" if many else "42\n"
    assert (proc.returncode, proc.stdout) == (0, expected.encode()), proc.stderr[-2000:]
    modules = _imported_modules(proc.stderr)
    assert "asyncssh" in modules, sorted(modules)  # the importtime report was read
    unwanted = {*EDITOR_LIBRARIES, "yaml"}
    assert not modules & unwanted, sorted(modules & unwanted)


@pytest.mark.parametrize("flag", ["-V", "--help"])
def test_version_and_help_load_no_library(flag: str) -> None:
    """-V and --help answer without importing asyncssh or the editor's libraries."""
    proc = subprocess.run(
        remoterepl_command([flag]),
        capture_output=True,
        env={"PYTHONPROFILEIMPORTTIME": "1", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = _imported_modules(proc.stderr)
    assert "remoterepl" in modules, sorted(modules)
    assert not modules & {"asyncssh", *EDITOR_LIBRARIES}, sorted(modules)
