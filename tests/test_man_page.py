"""The man page docs/remoterepl.1 (issue 13, part 7): in step with ``--help`` (its
SYNOPSIS and OPTIONS are generated from the same parser by scripts/man), rendered by the
real ``man`` without warnings, and shipped in the wheel under share/man/man1."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from remoterepl.arguments import build_parser
from remoterepl.shell_completion import options
from remoterepl.ssh import keywords

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "remoterepl.1"
SCRIPT = ROOT / "scripts" / "man"
SECTIONS = (
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "OPTIONS",
    "SSH_CONFIG KEYWORDS",
    "ESCAPES",
    "THE LINE EDITOR",
    "FILES",
    "ENVIRONMENT",
    "EXIT STATUS",
    "SEE ALSO",
)


def _check(page: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--page", str(page)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_committed_page_is_what_scripts_man_generates() -> None:
    """The page holds exactly what the parser behind --help makes: an option added to
    cli.py without running scripts/man fails here, and the message says what to run."""
    proc = _check(PAGE)
    assert proc.returncode == 0, proc.stderr


def test_a_stale_page_fails_the_check_naming_the_command(tmp_path: Path) -> None:
    """A page missing one option's entry (as after a new option) is refused with a diff
    and the command that fixes it; running that command fixes it."""
    stale = tmp_path / "remoterepl.1"
    text = PAGE.read_text()
    entry = ".TP\n\\fB\\-\\-append\\fR\n"
    assert entry in text
    stale.write_text(text.replace(entry, "", 1))
    proc = _check(stale)
    assert proc.returncode == 1
    assert "run scripts/man to regenerate it" in proc.stderr
    assert "+\\fB\\-\\-append\\fR" in proc.stderr  # the diff shows what is missing
    fixed = subprocess.run(
        [sys.executable, str(SCRIPT), "--page", str(stale)], capture_output=True, timeout=60
    )
    assert fixed.returncode == 0 and stale.read_text() == text


def _render(tmp_path: Path) -> str:
    man = shutil.which("man")
    if man is None:
        pytest.skip("man is not installed (scripts/bootstrap installs man-db as root)")
    env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
    proc = subprocess.run(
        [man, "-l", str(PAGE)], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


def test_man_renders_every_section_and_option(tmp_path: Path) -> None:
    """``man -l`` shows each section and every option --help has (the hyphens as
    typed), plus the escapes and exit statuses."""
    text = _render(tmp_path)
    lines = text.splitlines()
    for section in SECTIONS:
        assert section in lines, section
    flags = [flag for option in options(build_parser()) for flag in option.flags]
    assert len(flags) > 25
    for flag in flags:
        assert flag in text, flag
    for fragment in ("~.", "~^Z", "Send SIGTERM", "255", "128+N", "~/.ssh/known_hosts", "NO_COLOR"):
        assert fragment in text, fragment
    # every keyword remoterepl does not implement is named (a long one may be hyphenated)
    flat = re.sub(r"\u2010\s+|-\n\s+", "", text)
    for keyword in keywords.NOT_IMPLEMENTED:
        assert keyword in flat, keyword


def test_groff_finds_nothing_to_warn_about() -> None:
    """Every groff warning enabled (-ww): none."""
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed (scripts/bootstrap installs groff-base as root)")
    proc = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z", str(PAGE)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_wheel_installs_the_page_under_share_man(tmp_path: Path) -> None:
    """``pip wheel`` puts the page in the wheel's data directory, which pip installs to
    <prefix>/share/man/man1/remoterepl.1."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("remoterepl-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        pages = [n for n in archive.namelist() if n.endswith("/data/share/man/man1/remoterepl.1")]
        assert len(pages) == 1, archive.namelist()
        assert pages[0].startswith("remoterepl-") and ".data/" in pages[0]
        assert archive.read(pages[0]) == PAGE.read_bytes()
