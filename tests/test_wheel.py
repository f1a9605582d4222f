"""The package as users get it (issue 13): ``python -m build`` (an sdist, then the wheel
built from that sdist, as a release is made), ``pipx install`` of the wheel into a private
PIPX_HOME with the Python running the tests, and the installed commands run from there:
``remoterepl -V``, a pipe-mode session against the embedded server, ``remoterepl-demo``.
The wheel holds the package and nothing else of the repository."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

import pytest

from remoterepl import __version__
from tests.client_env import ClientEnv, client_environment
from tests.system import require_program

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent
DIST_INFO = f"remoterepl-{__version__}.dist-info/"
#: What the build never sees: virtualenvs, caches, earlier build output, the git store.
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout: setuptools writes build/ and egg-info
    into its source tree, which concurrent runs (scripts/test-pythons) must not share."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED, symlinks=True)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(base / "dist"), str(source)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=240,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = list((base / "dist").glob("*.whl"))
    assert [w.name for w in wheels] == [f"remoterepl-{__version__}-py3-none-any.whl"]
    assert len(list((base / "dist").glob("*.tar.gz"))) == 1
    return wheels[0]


@dataclass(frozen=True)
class Installed:
    """Where ``pipx install`` put remoterepl: its command links and its own venv."""

    bin: Path
    venv: Path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """``pipx install WHEEL`` with everything of pipx's under a temporary directory and the
    dependencies at the tested versions (constraints/newest.txt)."""
    base = tmp_path_factory.mktemp("pipx")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPX_")}
    env.pop("PYTHONPATH", None)  # nothing but the installed package may be importable
    env |= {
        "PIPX_HOME": str(base / "home"),
        "PIPX_BIN_DIR": str(base / "bin"),
        "PIPX_MAN_DIR": str(base / "man"),
    }
    constraints = ROOT / "constraints" / "newest.txt"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipx",
            "install",
            "--python",
            sys.executable,
            f"--pip-args=-c {shlex.quote(str(constraints))}",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield Installed(bin=base / "bin", venv=base / "home" / "venvs" / "remoterepl")
    shutil.rmtree(base, ignore_errors=True)


def run_installed(
    installed: Installed, name: str, args: list[str], env: dict[str, str], data: bytes
) -> subprocess.CompletedProcess[bytes]:
    """Run an installed command as a user would (from their home, no PYTHONPATH)."""
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(installed.bin / name), *args],
        input=data,
        capture_output=True,
        env=env,
        cwd=env["HOME"] if Path(env["HOME"]).is_dir() else None,
        timeout=60,
        start_new_session=True,
    )


def test_the_wheel_holds_the_package_and_nothing_else(wheel: Path) -> None:
    """Every module of remoterepl/ (the embedded server included: remoterepl-demo runs
    it), its metadata, and nothing of tests/, scripts/, compose/, benchmarks/ or a venv."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = HeaderParser().parsestr(archive.read(DIST_INFO + "METADATA").decode())
        entry_points = archive.read(DIST_INFO + "entry_points.txt").decode()
    modules = {n for n in names if n.startswith("remoterepl/")}
    assert modules == {p.relative_to(ROOT).as_posix() for p in (ROOT / "remoterepl").rglob("*.py")}
    # pip installs a wheel's .data/data/ under the prefix: share/ (a man page) may be there.
    others = [n for n in names if not n.startswith(("remoterepl/", DIST_INFO))]
    data = f"remoterepl-{__version__}.data/data/share/"
    assert all(n.startswith(data) for n in others), others
    assert metadata["Requires-Python"] == ">=3.10"
    assert "remoterepl = remoterepl.cli:main" in entry_points
    assert "remoterepl-demo = remoterepl.embedded.demo:main" in entry_points


def test_pipx_install_gives_a_working_remoterepl(
    installed: Installed, embedded_env: ClientEnv
) -> None:
    """The installed command is the wheel's, in pipx's venv on this Python: -V names the
    version and the libraries', and ``printf '2+2\\n' | remoterepl HOST bc`` prints 4."""
    require_program("bc", "bc")
    where = subprocess.run(
        [
            str(installed.venv / "bin" / "python"),
            "-c",
            "import sys, remoterepl; print(remoterepl.__file__); print(sys.version_info[:2])",
        ],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
    )
    module, version = where.stdout.splitlines()
    assert Path(module).is_relative_to(installed.venv), module
    assert version == str(sys.version_info[:2])

    shown = run_installed(installed, "remoterepl", ["-V"], embedded_env.env, b"")
    assert shown.returncode == 0, shown.stderr
    # On stderr, as ssh -V writes it.
    assert shown.stderr.decode().startswith(f"remoterepl {__version__}, asyncssh 2.")

    session = run_installed(
        installed, "remoterepl", [embedded_env.user_alias, "bc"], embedded_env.env, b"2+2\n"
    )
    assert (session.returncode, session.stdout) == (0, b"4\n"), session.stderr
    assert session.stderr == b""


def test_pipx_install_gives_a_working_remoterepl_demo(installed: Installed, tmp_path: Path) -> None:
    """``printf '6*7\\n' | remoterepl-demo bc`` from the wheel: its own embedded server, 42."""
    require_program("bc", "bc")
    demo = run_installed(
        installed, "remoterepl-demo", ["bc"], client_environment(tmp_path / "home"), b"6*7\n"
    )
    assert (demo.returncode, demo.stdout) == (0, b"42\n"), demo.stderr
    assert demo.stderr.decode().startswith("remoterepl-demo: embedded SSH server on 127.0.0.1:")
