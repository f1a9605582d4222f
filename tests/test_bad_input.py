"""Bad input from the user: never a traceback, always a usage error (exit status 2) or a
connection failure (255) with one line, escaped, naming what was wrong.

Property-based where the input space is large (destinations, -o pairs, ports, -J specs,
ssh_config and known_hosts lines): in-process, through the parser and the planning step
that reads the config files (no network), so hundreds of examples stay fast. Explicit
cases for files (identity, --stdout, --password-file, --record). The end-to-end runs of
the installed binary are in test_bad_input_e2e.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import string
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from remoterepl import cli
from remoterepl.display import shown
from remoterepl.editor.recording import Recorder
from remoterepl.errors import UsageError
from remoterepl.settings import Settings, host_problem, parse_port
from remoterepl.ssh import keywords
from remoterepl.ssh.auth import read_password_file
from remoterepl.ssh.config import write_config_files
from remoterepl.ssh.config_check import check_user_files
from remoterepl.ssh.identities import load_identity_files
from remoterepl.ssh.known_hosts import KnownHosts
from remoterepl.ssh.route import plan_route

BOUNDED = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text as it comes from argv: any code point, control characters, undecodable bytes.
ARGV_TEXT = st.text(
    st.one_of(
        st.characters(codec="utf-8", exclude_characters="\0"),
        st.sampled_from(list("-@:[]/%,;$`'\"\\ \t\n\x1b\x07\x9b\u202e\udcff")),
    ),
    max_size=40,
)
OPENSSH_KEYWORDS = sorted(
    {*keywords.IMPLEMENTED, *keywords.NOT_IMPLEMENTED, *keywords.OBSOLETE, *keywords.ALIASES}
)


def assert_one_clean_line(message: str) -> None:
    """A message as the user sees it: one line, no character a terminal would act on."""
    assert "\n" not in message and "\r" not in message, repr(message)
    assert shown(message) == message, repr(message)


def usage_output(argv: list[str]) -> str:
    """cli.main's stderr for ``argv`` that the parser refuses; asserts exit status 2."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = cli.main(argv)
    assert status == 2, stderr.getvalue()
    return stderr.getvalue()


def parse_or_usage(argv: list[str]) -> Settings | None:
    """The settings for ``argv``, or None after checking that main reports the refusal as
    ``remoterepl: ...`` plus the usage line, status 2, nothing else."""
    try:
        return cli.parse_args(argv)
    except UsageError as exc:
        assert_one_clean_line(f"remoterepl: {shown(str(exc))}")
    text = usage_output(argv)
    lines = text.splitlines()
    assert len(lines) == 2 and lines[0].startswith("remoterepl: "), text
    assert lines[1].startswith("usage: remoterepl"), text
    assert shown(lines[0]) == lines[0], repr(lines[0])
    return None


@contextlib.contextmanager
def planned(parsed: Settings) -> Iterator[None]:
    """Write the run's config files and plan its route (what happens before connecting):
    only a UsageError may come out of it."""
    files = write_config_files(parsed.connect)
    try:
        check_user_files(parsed.connect, files.user)
        plan_route(parsed.connect.target, files)
        yield
    finally:
        files.remove()


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    """An empty ssh_config for -F (the machine's own files stay out of the run)."""
    path = tmp_path / "ssh_config"
    path.write_text("")
    return path


# -- destinations, ports, -J ----------------------------------------------------------------


@BOUNDED
@given(destination=ARGV_TEXT)
def test_any_destination_parses_or_is_one_usage_line(destination: str, empty_config: Path) -> None:
    """Whatever DESTINATION is, the parser accepts it (a host OpenSSH would accept too,
    which then plans, or fails planning in one line) or main says why in one escaped line
    with status 2."""
    parsed = parse_or_usage(["-F", str(empty_config), "--", destination, "true"])
    if parsed is None:
        return
    target = parsed.connect.target
    assert host_problem(target.host) is None
    assert not target.host.startswith("-") and not (target.user or "x").startswith("-")
    assert target.port is None or 0 < target.port < 65536
    try:
        with planned(parsed):
            pass
    except UsageError as exc:
        assert_one_clean_line(shown(str(exc)))


@BOUNDED
@given(
    user=st.from_regex(r"[a-z_][a-z0-9_.-]{0,15}", fullmatch=True),
    host=st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,30}[a-z0-9])?", fullmatch=True),
    port=st.integers(1, 65535),
    form=st.sampled_from(["plain", "url"]),
)
def test_good_destinations_round_trip(user: str, host: str, port: int, form: str) -> None:
    """user@host:port and ssh://user@host:port give back what was written."""
    text = f"{user}@{host}:{port}" if form == "plain" else f"ssh://{user}@{host}:{port}"
    target = cli.parse_args([text]).connect.target
    assert (target.user, target.host, target.port) == (user, host, port)


@BOUNDED
@given(port=st.one_of(ARGV_TEXT, st.integers(-(2**70), 2**70).map(str)))
def test_ports(port: str) -> None:
    """-p: a number 1-65535, else one line; never an OverflowError further down."""
    try:
        value = parse_port(port)
    except UsageError as exc:
        assert_one_clean_line(str(exc))
        assert parse_or_usage(["-p", port, "h"]) is None
    else:
        assert 0 < value < 65536 and str(value) == port.lstrip("0")


@BOUNDED
@given(spec=ARGV_TEXT)
def test_any_jump_spec_parses_or_is_one_usage_line(spec: str, empty_config: Path) -> None:
    """-J: any text is a route OpenSSH would accept, or one usage line."""
    assume(not spec.startswith("-"))  # argparse's own case: "expected one argument"
    parsed = parse_or_usage(["-F", str(empty_config), "-J", spec, "h"])
    if parsed is None:
        return
    try:
        with planned(parsed):
            pass
    except UsageError as exc:  # e.g. "-J =": asyncssh reads "ProxyJump =" as no value
        assert_one_clean_line(shown(str(exc)))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ssh://[::1", "true"], "bad destination 'ssh://[::1': Invalid IPv6 URL"),
        (["-J", "ssh://[::1", "h"], "bad jump host 'ssh://[::1'"),
        (["-J", "", "h"], "bad jump host ''"),
        (["-J", "a,,b", "h"], "bad jump host ''"),
        (["-J", "a,-oProxyCommand=x", "h"], "may not start with '-'"),
        (["--", "-oProxyCommand=touch /tmp/x", "h"], "may not start with '-'"),
        (["-l-oProxyCommand=x", "h"], "bad -l user name"),
        (["-oProxyCommand=x@h"], "required: DESTINATION"),  # an -o option, as for ssh
        (["--", "-oProxyCommand=x@h"], "may not start with '-'"),
        (["h;reboot"], "may not contain ';'"),
        (["$(reboot)"], "may not contain '$'"),
        (["`reboot`@h"], "may not contain '`'"),
        (["-o", "Port=99999", "h"], "Port 99999: bad port"),
        (["-p", "99999", "h"], "bad port '99999'"),
        (["h:99999"], "bad port '99999'"),
        (["ssh://h:0"], "bad port"),
        (["-o", "ConnectTimeout=-5", "h"], "invalid time value"),
        (["-o", "NoSuchOption=1", "h"], "unknown keyword 'NoSuchOption'"),
        (["-o", "Tunnel=yes", "h"], "Tunnel is not implemented"),
        (["-o", "RemoteForward=80:h:80", "h"], "Bad remote forwarding specification"),
        (["-i", "~nosuchuser4711/key", "h"], "no such user"),
        (["-i", "key\nIdentityFile /etc/x", "h"], "bad -i file name"),
        (["h\x1b[2J\x1b]0;pwned\x07"], "may not contain '\\e'"),
    ],
)
def test_bad_command_lines(argv: list[str], expected: str) -> None:
    """Each of these is one escaped line naming the problem, and status 2."""
    text = usage_output(argv)
    first = text.splitlines()[0]
    assert expected in first, text
    assert "\x1b" not in text and "\x07" not in text and "Traceback" not in text


# -- -o and ssh_config lines ----------------------------------------------------------------

VALUES = st.one_of(
    st.sampled_from(["yes", "no", "none", "0", "22", "99999", "-5", "%h", "~", "a b", ""]),
    ARGV_TEXT,
)


def _safe_to_plan(keyword: str, value: str) -> bool:
    """Planning must not run a command or read arbitrary files: no Match (exec) and no
    Include from random text (the explicit cases test those)."""
    return keyword.lower() not in ("match", "include", "host") and "exec" not in value.lower()


@BOUNDED
@given(
    keyword=st.one_of(st.sampled_from(OPENSSH_KEYWORDS), ARGV_TEXT),
    value=VALUES,
    spelling=st.sampled_from(["{k}={v}", "{k} {v}", "{k}= {v}"]),
)
def test_any_o_option_parses_or_is_one_usage_line(
    keyword: str, value: str, spelling: str, empty_config: Path
) -> None:
    """-o KEY=VALUE: accepted (and then the planning step, where asyncssh parses it, ends
    in a UsageError at worst), or one usage line."""
    assume(_safe_to_plan(keyword, value))
    option = spelling.format(k=keyword, v=value)
    parsed = parse_or_usage(["-F", str(empty_config), "-o", option, "h"])
    if parsed is None:
        return
    assert all(k in OPENSSH_KEYWORDS for k, _v in parsed.connect.options)
    try:
        with planned(parsed):
            pass
    except UsageError as exc:
        assert_one_clean_line(shown(str(exc)))


CONFIG_LINE = st.one_of(
    st.builds(
        "{} {}".format,
        st.sampled_from([k for k in OPENSSH_KEYWORDS if _safe_to_plan(k, "")]),
        VALUES,
    ),
    st.builds("{}={}".format, st.sampled_from(["Port", "User", "HostName", "Bogus"]), VALUES),
    st.text(string.printable, max_size=40),
    st.just("Host *"),
    st.just("Host h"),
)


@BOUNDED
@given(lines=st.lists(CONFIG_LINE, max_size=6))
def test_any_ssh_config_is_read_or_refused_with_its_file_and_line(
    lines: list[str], tmp_path: Path
) -> None:
    """An ssh_config of random lines: used, or refused in one line naming the file (and,
    for a line of it, the line number) -- never another exception."""
    assume(all(_safe_to_plan((line.split() or [""])[0], line) for line in lines))
    path = tmp_path / "random_config"
    path.write_text("\n".join(lines) + "\n")
    try:
        with planned(cli.parse_args(["-F", str(path), "h"])):
            pass
    except UsageError as exc:
        message = str(exc)
        assert_one_clean_line(shown(message))
        assert "ssh config" in message or "HostName" in message or "jump host" in message


def _config_error(tmp_path: Path, text: str, name: str = "config") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError) as caught, planned(cli.parse_args(["-F", str(path), "h"])):
        pass
    message = str(caught.value)
    assert_one_clean_line(message)
    return message


def test_an_unknown_keyword_names_file_and_line(tmp_path: Path) -> None:
    """As OpenSSH: an unknown keyword stops the run, even in a Host block that does not
    apply; IgnoreUnknown lets it through."""
    text = "Host other\n  Port 22\n  Frobnicate yes\n"
    message = _config_error(tmp_path, text)
    assert f"{tmp_path / 'config'} line 3: unknown keyword 'Frobnicate'" in message
    path = tmp_path / "ignoring"
    path.write_text("IgnoreUnknown Frob*\n" + text)
    with planned(cli.parse_args(["-F", str(path), "h"])):
        pass


def test_distribution_keywords_are_read_quietly(tmp_path: Path) -> None:
    """What Debian's, Fedora's (RHEL's crypto-policies file) and Apple's ssh accept in the
    files they share with remoterepl must not stop it."""
    path = tmp_path / "config"
    path.write_text(
        "GSSAPIKexAlgorithms gss-curve25519-sha256-\nHost *\n  UseKeychain yes\n"
        "  GSSAPITrustDns no\n  Port 2222\n"
    )
    with planned(cli.parse_args(["-F", str(path), "h"])):
        pass


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_config_file_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """~/.ssh/config as a FIFO blocked the run (on the event loop: no signal got through),
    -F /dev/zero never ended; both are refused before they are read. -F /dev/null is ssh's
    "no config"."""
    if kind == "fifo":
        monkeypatch.setenv("HOME", str(tmp_path))
        (tmp_path / ".ssh").mkdir()
        os.mkfifo(tmp_path / ".ssh" / "config")
        argv = ["h"]
    else:
        argv = ["-F", "/dev/zero", "h"]
    with pytest.raises(UsageError) as caught, planned(cli.parse_args(argv)):
        pass
    assert "is not a regular file" in str(caught.value)
    assert_one_clean_line(str(caught.value))
    with planned(cli.parse_args(["-F", os.devnull, "h"])):
        pass


def test_an_include_of_itself_is_refused(tmp_path: Path) -> None:
    """A file that includes itself: OpenSSH's limit of 16 nested Includes, one line."""
    path = tmp_path / "config"
    message = _config_error(tmp_path, f"Include {path}\n")
    assert "more than 16 nested Include files" in message and "line 1" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Include ~nosuchuser4711/conf\n", "no such user"),
        ("IdentityFile ~nosuchuser4711/key\n", "no such user"),
        ("UserKnownHostsFile ~nosuchuser4711/kh\n", "no such user"),
        ("Port 99999\n", "bad port"),
        ("Host h\n  Port 0\n", "line 2: Port 0: bad port"),
        ("ConnectTimeout -1\n", "invalid time value"),
        ("ServerAliveInterval " + "9" * 400 + "\n", "invalid time value"),
        ("ServerAliveCountMax " + "9" * 5000 + "\n", "whole number"),
        ('User "unbalanced\n', "line 1"),
        ("Host h\n  HostName -oProxyCommand=touch\n", "may not start with '-'"),
        ("Host h\n  ProxyJump -oProxyCommand=x\n", "may not start with '-'"),
        ("Host h\n  ProxyJump ssh://[::1\n", "Invalid IPv6 URL"),
        ("Host h\n  HostName a\x1bb\n", "\\e"),
    ],
)
def test_broken_ssh_config_lines(tmp_path: Path, text: str, expected: str) -> None:
    """Each is refused in one escaped line (the file and line where ssh gives them)."""
    assert expected in _config_error(tmp_path, text)


def test_an_unimplemented_feature_in_a_file_is_warned_about_where_it_applies(
    tmp_path: Path,
) -> None:
    """Tunnel for the host: kept for the warning; for another host, or set to "no":
    nothing to say."""
    path = tmp_path / "config"
    path.write_text("Host h\n  Tunnel yes\n  ForwardX11 no\nHost other\n  ForwardX11 yes\n")
    parsed = cli.parse_args(["-F", str(path), "h"])
    files = write_config_files(parsed.connect)
    try:
        route = plan_route(parsed.connect.target, files)
    finally:
        files.remove()
    assert route.host.not_implemented() == ["Tunnel yes"]


# -- known_hosts lines ---------------------------------------------------------------------

KNOWN_HOSTS_LINE = st.one_of(
    st.text(string.printable, max_size=80),
    st.builds(
        "{} {} {}".format,
        st.sampled_from(["h", "@revoked h", "@cert-authority *", "|1|x|y", "|1|", "!h,*", "["]),
        st.sampled_from(["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "bogus"]),
        st.text(string.ascii_letters + string.digits + "+/=", max_size=80),
    ),
)


@BOUNDED
@given(lines=st.lists(KNOWN_HOSTS_LINE, max_size=8))
def test_broken_known_hosts_lines_are_skipped(lines: list[str], tmp_path: Path) -> None:
    """Garbage known_hosts lines are skipped, as ssh skips them; the good line among them
    still vouches for the key."""
    key = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    good = f"h {key.export_public_key().decode().strip()}"
    path = tmp_path / "known_hosts"
    path.write_text("\n".join([*lines, good, *lines]) + "\n")
    known = KnownHosts.load("h", [str(path)])
    assert any(k.public_data == key.public_data for k in known.trusted())


# -- files: identities, --password-file, --stdout, --record ---------------------------------


def _warnings_loading(path: Path) -> tuple[int, list[str]]:
    warnings: list[str] = []

    async def no_passphrase(_path: str, _attempt: int) -> None:
        return None

    loaded = load_identity_files(
        [str(path)], [], no_passphrase, warn_missing=[str(path)], warn=warnings.append
    )
    return len(loaded), warnings


def test_identity_files_that_cannot_be_used_are_skipped_with_ssh_warnings(
    tmp_path: Path,
) -> None:
    """Missing, garbage, a directory, a FIFO (which must not block), loose: each skipped
    with one line, as ssh words it; a good key next to them still loads."""
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64!\n")
    garbage.chmod(0o600)
    assert _warnings_loading(garbage) == (0, [f'Load key "{garbage}": invalid format'])
    count, warnings = _warnings_loading(tmp_path / "missing")
    assert count == 0 and warnings == [
        f"Warning: identity file {tmp_path / 'missing'} not accessible: No such file or directory."
    ]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    count, warnings = _warnings_loading(fifo)
    assert count == 0 and "not accessible: not a regular file" in warnings[0]
    count, warnings = _warnings_loading(tmp_path)
    assert count == 0 and "not accessible" in warnings[0]
    loose = tmp_path / "loose"
    loose.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    loose.chmod(0o644)
    count, warnings = _warnings_loading(loose)
    assert count == 0 and "UNPROTECTED PRIVATE KEY FILE!" in warnings[0]
    loose.chmod(0o600)
    assert _warnings_loading(loose) == (1, [])


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink", "loose", "missing", "device"])
def test_password_files_that_are_refused(tmp_path: Path, kind: str) -> None:
    """--password-file: anything but a private regular file is refused at once (a FIFO
    used to block the run for good), in one line naming it."""
    good = tmp_path / "good"
    good.write_text("pw\n")
    good.chmod(0o600)
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to(good)
    elif kind == "loose":
        path.write_text("pw\n")
        path.chmod(0o640)
    elif kind == "device":
        path = Path("/dev/null")
    with pytest.raises(UsageError) as caught:
        read_password_file(str(path))
    message = str(caught.value)
    assert_one_clean_line(message)
    wording = {
        "fifo": "is a FIFO",
        "directory": "is a directory",
        "symlink": "is a symbolic link",
        "loose": "mode 0640",
        "missing": "No such file",
        "device": "is a device",
    }
    assert wording[kind] in message, message
    assert read_password_file(str(good)) == "pw"


def test_record_onto_an_existing_readable_file_makes_it_private(tmp_path: Path) -> None:
    """--record FILE that existed with mode 0644: 0600 from the moment it is opened (what
    the terminal showed goes in it), truncated; a FIFO or a directory is refused."""
    path = tmp_path / "old.cast"
    path.write_text("old contents " * 100)
    path.chmod(0o644)
    recorder = Recorder.create(str(path), 80, 24, "t")
    recorder.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "old contents" not in path.read_text()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for bad in (fifo, tmp_path):
        with pytest.raises(UsageError) as caught:
            Recorder.create(str(bad), 80, 24, "t")
        assert_one_clean_line(str(caught.value))


def test_control_characters_in_a_name_are_escaped_by_the_console() -> None:
    """Even a message that forgot to escape a name reaches the terminal as one line
    without live escape sequences."""
    from remoterepl.environment import Console

    stream = io.StringIO()
    Console(stream).error("can't open 'a\nb\x1b]52;c;ZXZpbA==\x07'")
    assert stream.getvalue() == "remoterepl: can't open 'a\\nb\\e]52;c;ZXZpbA==\\x07'\n"
