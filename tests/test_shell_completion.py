"""``remoterepl --completion bash|zsh|fish`` (issue 13, part 6): the scripts run in the
real shells, against an isolated HOME whose ~/.ssh holds a config (with an Include and
patterns that must not be offered) and a known_hosts file; host names come from
``remoterepl --complete-hosts``, which loads neither asyncssh nor prompt_toolkit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pexpect
import pytest

from remoterepl import shell_completion
from remoterepl.arguments import build_parser
from remoterepl.ssh import hostnames
from remoterepl.ssh.config_check import MAX_INCLUDE_DEPTH
from tests.client import remoterepl_command, remoterepl_path
from tests.client_env import client_environment

CONFIG = """\
Include conf.d/*.conf
Host web1 web2 *.internal !bad
    HostName 10.0.0.1
Host=db-main
Match host web1
    User alice
"""
INCLUDED = "Host included-box\n    User bob\nHost ?x\n"
KNOWN_HOSTS = """\
kh-plain,192.0.2.7 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA
[kh-port]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA
|1|c2FsdA==|aGFzaA== ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA
@cert-authority *.example.com,ca-named ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA
@revoked revoked-host ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA
# a comment
"""
OFFERED = {"web1", "web2", "db-main", "included-box", "kh-plain", "192.0.2.7", "kh-port"}
NOT_OFFERED = {"*.internal", "!bad", "bad", "?x", "revoked-host", "*.example.com", "[kh-port]"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An isolated HOME with ~/.ssh/config (+ an Included file) and ~/.ssh/known_hosts,
    and a directory of files to complete."""
    home = tmp_path / "home"
    (home / ".ssh" / "conf.d").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(CONFIG)
    (home / ".ssh" / "conf.d" / "a.conf").write_text(INCLUDED)
    (home / ".ssh" / "known_hosts").write_text(KNOWN_HOSTS)
    (tmp_path / "keys").mkdir()
    for name in ("alpha.key", "beta.key"):
        (tmp_path / "keys" / name).write_text("")
    return home


def _env(home: Path) -> dict[str, str]:
    env = client_environment(home)
    env["PATH"] = f"{remoterepl_path().parent}{os.pathsep}{env['PATH']}"
    return env


def _script(shell: str) -> str:
    proc = subprocess.run(
        remoterepl_command(["--completion", shell]), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def _need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (scripts/bootstrap installs it as root)")
    return path


# --- the host list -------------------------------------------------------------------------


def test_complete_hosts_offers_aliases_and_known_hosts_names_only(home: Path) -> None:
    """Host aliases (an Included file's too) and unhashed known_hosts names, each once;
    patterns, negations, hashed and @revoked entries never."""
    proc = subprocess.run(
        remoterepl_command(["--complete-hosts"]),
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.splitlines()
    assert OFFERED | {"ca-named"} <= set(names), names
    assert not NOT_OFFERED & set(names), names
    assert not [name for name in names if name.startswith("|")], names
    assert len(names) == len(set(names)), names


def test_complete_hosts_reads_the_config_named_by_f(home: Path, tmp_path: Path) -> None:
    """-F FILE replaces ~/.ssh/config; its relative Include is relative to ~/.ssh, as in
    ssh; a file that does not exist offers nothing from the config and still exits 0."""
    other = tmp_path / "other.conf"
    other.write_text("Host only-here\nInclude conf.d/a.conf\n")
    env = _env(home)
    run = [*remoterepl_command(["--complete-hosts", "-F", str(other)])]
    names = subprocess.run(run, env=env, capture_output=True, text=True, timeout=30).stdout
    assert {"only-here", "included-box"} <= set(names.split()), names
    assert "web1" not in names.split() and "db-main" not in names.split(), names
    missing = subprocess.run(
        remoterepl_command(["--complete-hosts", f"-F{tmp_path}/nope"]),
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 0 and "web1" not in missing.stdout.split(), missing


def test_config_aliases_stop_at_an_include_loop(tmp_path: Path) -> None:
    """A file that includes itself ends at ssh's depth limit instead of recursing away."""
    loop = tmp_path / "loop.conf"
    loop.write_text(f"Host looped\nInclude {loop}\n")
    names = list(hostnames.config_aliases(str(loop), str(tmp_path)))
    assert names == ["looped"] * (MAX_INCLUDE_DEPTH + 1)


def test_known_hosts_names_exactly(tmp_path: Path) -> None:
    """The known_hosts reading on its own: order kept, ports and markers handled."""
    path = tmp_path / "known_hosts"
    path.write_text(KNOWN_HOSTS + "\n   \n@cert-authority\n")
    names = list(hostnames.known_hosts_names(str(path)))
    assert names == ["kh-plain", "192.0.2.7", "kh-port", "ca-named"]


def test_complete_hosts_loads_no_ssh_or_editor_library(home: Path) -> None:
    """The path run on every Tab imports neither asyncssh nor prompt_toolkit (nor
    Pygments, platformdirs): Python's own -X importtime says what was loaded."""
    env = _env(home)
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    proc = subprocess.run(
        remoterepl_command(["--complete-hosts"]), env=env, capture_output=True, timeout=30
    )
    assert proc.returncode == 0 and b"web1" in proc.stdout, proc
    loaded = set(re.findall(rb"\|\s*([\w.]+)\n", proc.stderr))
    assert b"remoterepl.ssh.hostnames" in loaded  # the report is there at all
    for library in (b"asyncssh", b"prompt_toolkit", b"pygments", b"platformdirs"):
        assert library not in loaded, library


# --- bash -------------------------------------------------------------------------------------

BASH_DRIVER = r"""
source "$1"
shift
COMP_LINE=$1; COMP_POINT=${#COMP_LINE}; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_remoterepl
printf '%s\n' "${COMPREPLY[@]}"
"""


def _bash_complete(home: Path, cwd: Path, line: str, words: list[str] | None = None) -> list[str]:
    """COMPREPLY of the bash function for ``line`` (COMP_WORDS split at blanks unless
    given: bash splits them at = and : too)."""
    bash = _need("bash")
    script = cwd / "remoterepl.bash"
    if not script.exists():
        script.write_text(_script("bash"))
    if words is None:
        words = line.split() + ([""] if line.endswith(" ") else [])
    proc = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", BASH_DRIVER, "bash", str(script), line, *words],
        cwd=cwd,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc
    return [reply for reply in proc.stdout.split("\n") if reply]


def test_bash_completes_destinations(home: Path, tmp_path: Path) -> None:
    """DESTINATION: the aliases from ~/.ssh/config and its Include, known_hosts names,
    with a user@ kept; never a pattern."""
    everything = _bash_complete(home, tmp_path, "remoterepl ")
    assert set(everything) >= OFFERED and not NOT_OFFERED & set(everything), everything
    assert _bash_complete(home, tmp_path, "remoterepl inc") == ["included-box"]
    assert _bash_complete(home, tmp_path, "remoterepl we") == ["web1", "web2"]
    assert _bash_complete(home, tmp_path, "remoterepl -p 2222 -o Port=22 db") == ["db-main"]
    assert _bash_complete(home, tmp_path, "remoterepl kh-po") == ["kh-port"]
    other = tmp_path / "other.conf"
    other.write_text("Host only-here\n")
    assert _bash_complete(home, tmp_path, f"remoterepl -F {other} on") == ["only-here"]
    assert _bash_complete(home, tmp_path, f"remoterepl -F {other} we") == []
    # "alice@db": bash's words are alice, @, db; readline replaces "@db"
    replies = _bash_complete(
        home, tmp_path, "remoterepl alice@db", ["remoterepl", "alice", "@", "db"]
    )
    assert replies == ["@db-main"]


def test_bash_completes_options_and_their_arguments(home: Path, tmp_path: Path) -> None:
    """Options by prefix (every option of the parser), files after -i, hosts after -J
    (the last of a comma-separated list), the shells after --completion."""
    assert _bash_complete(home, tmp_path, "remoterepl --comp") == ["--completion"]
    all_options = set(_bash_complete(home, tmp_path, "remoterepl -"))
    assert {f for o in shell_completion.options(build_parser()) for f in o.flags} == all_options
    assert sorted(_bash_complete(home, tmp_path, "remoterepl -i keys/")) == [
        "keys/alpha.key",
        "keys/beta.key",
    ]
    assert _bash_complete(home, tmp_path, "remoterepl web1 --stdout keys/a") == ["keys/alpha.key"]
    assert _bash_complete(home, tmp_path, "remoterepl -J web1,in") == ["web1,included-box"]
    assert _bash_complete(home, tmp_path, "remoterepl --completion ") == ["bash", "zsh", "fish"]
    # A forward spec is no host name; a cluster ending in a value letter takes the next word.
    assert _bash_complete(home, tmp_path, "remoterepl -L we") == []
    assert _bash_complete(home, tmp_path, "remoterepl -fNL 80:localhost:80 we") == ["web1", "web2"]
    assert _bash_complete(home, tmp_path, "remoterepl -vi keys/a") == ["keys/alpha.key"]
    assert _bash_complete(home, tmp_path, "remoterepl -p2222 we") == ["web1", "web2"]


def test_bash_leaves_the_remote_command_to_the_default(home: Path, tmp_path: Path) -> None:
    """After DESTINATION and a command word nothing is offered: bash's default (file
    names, -o default) takes over; options are still offered right after DESTINATION."""
    assert _bash_complete(home, tmp_path, "remoterepl web1 ls we") == []
    assert _bash_complete(home, tmp_path, "remoterepl web1 ls -") == []
    assert _bash_complete(home, tmp_path, "remoterepl -- web1 ") == []
    assert "-p" in _bash_complete(home, tmp_path, "remoterepl web1 -")


def _interactive(
    argv: list[str], env: dict[str, str], cwd: Path, cases: list[tuple[str, str]]
) -> None:
    """Type each line of ``cases`` and Tab in the interactive shell ``argv``; the screen
    must then show the completed line, and Enter runs it with those words."""
    shell = pexpect.spawn(argv[0], argv[1:], env=env, cwd=str(cwd), encoding="utf-8")
    try:
        shell.expect_exact("$ ", timeout=10)
        for typed, wanted in cases:
            shell.send(typed + "\t")
            shell.expect_exact(wanted, timeout=10)
            shell.send("\r")
            shell.expect(r"LINE:(.*)\r\n", timeout=10)
            assert shell.match.group(1).rstrip() == wanted.rstrip("= ").removeprefix("remoterepl ")
            shell.expect_exact("$ ", timeout=10)
    finally:
        shell.close(force=True)


def test_bash_completion_in_a_real_interactive_bash(home: Path, tmp_path: Path) -> None:
    """Through readline itself, as a person presses Tab: the lines bash ends up with."""
    _need("bash")
    script = tmp_path / "remoterepl.bash"
    script.write_text(_script("bash"))
    rc = tmp_path / "rc"
    # The function stands in for the program at Enter (the completion runs `command`).
    rc.write_text(f"PS1='$ '\nsource {script}\nremoterepl() {{ printf 'LINE:%s\\n' \"$*\"; }}\n")
    env = _env(home)
    env["TERM"] = "dumb"
    cases = [
        ("remoterepl alice@db", "remoterepl alice@db-main "),
        ("remoterepl inc", "remoterepl included-box "),
        ("remoterepl --stdout=keys/al", "remoterepl --stdout=keys/alpha.key "),
        ("remoterepl -J bob@web1,kh-po", "remoterepl -J bob@web1,kh-port "),
    ]
    _interactive(["bash", "--rcfile", str(rc), "-i"], env, tmp_path, cases)


def test_zsh_completion_in_a_real_interactive_zsh(home: Path, tmp_path: Path) -> None:
    """The zsh script on $fpath under compinit, Tab pressed in an interactive zsh."""
    _need("zsh")
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "_remoterepl").write_text(_script("zsh"))
    other = tmp_path / "other.conf"
    other.write_text("Host only-here\n")
    (tmp_path / ".zshrc").write_text(
        f"fpath=({functions} $fpath)\nautoload -Uz compinit\ncompinit -u -D\nPS1='$ '\n"
        'remoterepl() { print -r -- "LINE:$*" }\n'  # Enter; completion runs `command`
    )
    env = _env(home)
    env.update(TERM="dumb", ZDOTDIR=str(tmp_path))
    cases = [
        ("remoterepl inc", "remoterepl included-box "),
        ("remoterepl alice@db", "remoterepl alice@db-main "),
        ("remoterepl --comp", "remoterepl --completion="),
        ("remoterepl -i keys/al", "remoterepl -i keys/alpha.key "),
        ("remoterepl -J web1,inc", "remoterepl -J web1,included-box "),
        ("remoterepl -F other.conf on", "remoterepl -F other.conf only-here "),
    ]
    _interactive(["zsh", "-i"], env, tmp_path, cases)


# --- zsh, fish --------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_parse(shell: str, tmp_path: Path) -> None:
    """``zsh -n`` / ``fish -n`` accept the generated scripts."""
    program = _need(shell)
    script = tmp_path / f"remoterepl.{shell}"
    script.write_text(_script(shell))
    proc = subprocess.run([program, "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc


def test_fish_completes_hosts_options_and_files(home: Path, tmp_path: Path) -> None:
    """fish's own ``complete -C`` (what Tab shows) on the sourced script."""
    fish = _need("fish")
    script = tmp_path / "remoterepl.fish"
    script.write_text(_script("fish"))

    def complete(line: str) -> list[str]:
        proc = subprocess.run(
            [fish, "--no-config", "-c", f"source {script}; complete -C '{line}'"],
            cwd=tmp_path,
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc
        return [reply.split("\t")[0] for reply in proc.stdout.splitlines()]

    assert complete("remoterepl we") == ["web1", "web2"]
    assert complete("remoterepl alice@inc") == ["alice@included-box"]
    assert complete("remoterepl --comp") == ["--completion"]
    assert complete("remoterepl -i keys/") == ["keys/alpha.key", "keys/beta.key"]
    assert complete("remoterepl -J web1,db") == ["web1,db-main"]
    assert "web1" not in complete("remoterepl db-main ls ")
    assert complete("remoterepl -fNL 80:localhost:80 we") == ["web1", "web2"]
    assert "web1" not in complete("remoterepl -L we")


# --- from the parser --------------------------------------------------------------------------


def test_a_new_option_is_completed_without_editing_the_scripts() -> None:
    """The scripts come from the parser: an option added to it appears in all three,
    and a FILE metavar makes its argument complete file names."""
    parser = build_parser()
    parser.add_argument("--log-to", metavar="FILE", help="a new option")
    parser.add_argument("--colour", choices=["auto", "never"], help="another")
    bash = shell_completion.script("bash", parser)
    assert re.search(
        r'case " [^"]*--log-to[^"]*" in \*" \$option "\*\)\s+compopt -o filenames', bash
    )
    assert '--colour) mapfile -t COMPREPLY < <(compgen -W "auto never"' in bash
    assert "--log-to=[a new option]:FILE:_files" in shell_completion.script("zsh", parser)
    fish = shell_completion.script("fish", parser)
    assert "-l log-to -r -F -d 'a new option'" in fish
    assert "-l colour -x -a 'auto never'" in fish


def test_bad_shell_is_a_usage_error() -> None:
    """--completion tcsh: one line naming the choices, exit status 2."""
    proc = subprocess.run(
        remoterepl_command(["--completion", "tcsh"]), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert "invalid choice: 'tcsh'" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_help_lists_completion_but_not_the_hidden_helper() -> None:
    """--completion is an ordinary option of --help; --complete-hosts stays hidden."""
    text = build_parser().format_help()
    assert "--completion SHELL" in text and shell_completion.COMPLETE_HOSTS not in text
