"""The host-key decision, unit by unit, with keys generated here: unknown, changed and
revoked keys under each StrictHostKeyChecking value (what OpenSSH's ssh decides in each
case), recording new keys, and the yes/no/fingerprint answer."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from remoterepl.ssh.hostkeys import HostKeyVerifier, Policy
from remoterepl.ssh.known_hosts import KnownHosts, fingerprint

NAME = "[127.0.0.1]:2222"


def new_key(algorithm: str = "ssh-ed25519") -> asyncssh.SSHKey:
    """A fresh public key."""
    return asyncssh.generate_private_key(algorithm).convert_to_public()


def line(name: str, key: asyncssh.SSHKey, marker: str = "") -> str:
    """A known_hosts line."""
    text = f"{name} {key.export_public_key('openssh').decode().strip()}"
    return f"@{marker} {text}" if marker else text


def verifier(
    tmp_path: Path,
    lines: list[str],
    policy: Policy,
    *,
    can_ask: bool = False,
    hash_names: bool = False,
) -> tuple[HostKeyVerifier, list[str], Path]:
    """A verifier over a known_hosts file holding ``lines``; (verifier, warnings, file)."""
    path = tmp_path / "known_hosts"
    path.write_text("".join(entry + "\n" for entry in lines))
    warnings: list[str] = []
    known = KnownHosts.load(NAME, [str(path)])
    check = HostKeyVerifier(
        known, policy, [str(path)], can_ask=can_ask, hash_names=hash_names, warn=warnings.append
    )
    return check, warnings, path


POLICIES = list(Policy)
STRICT = [p for p in Policy if p is not Policy.NO]  # every policy but "no" refuses a changed key


def test_a_known_key_is_handed_to_asyncssh_as_trusted(tmp_path: Path) -> None:
    """known_hosts' key is in asyncssh's trusted list (validate is never asked about it)."""
    key = new_key()
    check, _warnings, path = verifier(tmp_path, [line(NAME, key)], Policy.YES)
    trusted = check.known_hosts_arg()[0]
    assert [k.public_data for k in trusted] == [key.public_data]
    assert f"matches {path}:1" in check.describe(key)


@pytest.mark.parametrize(
    ("policy", "accepted"),
    [(Policy.YES, False), (Policy.ACCEPT_NEW, True), (Policy.NO, True), (Policy.ASK, False)],
    ids=lambda p: getattr(p, "value", str(p)),
)
def test_unknown_key(tmp_path: Path, policy: Policy, accepted: bool) -> None:
    """yes refuses, accept-new records and connects, no warns and connects, ask without a
    terminal refuses (each refusal names the key and the policy)."""
    key = new_key()
    check, warnings, path = verifier(tmp_path, [], policy)
    assert check.validate(key) is accepted
    if accepted:
        assert check.refusal is None
    else:
        assert check.refusal is not None
        message = str(check.refusal)
        assert "is unknown" in message and fingerprint(key) in message
        assert f"StrictHostKeyChecking is {policy.value}" in message
        assert ("accept-new" in message) == (policy is not Policy.YES)
    recorded = path.read_text()
    assert (key.export_public_key("openssh").decode().split()[1] in recorded) == (
        policy is Policy.ACCEPT_NEW
    )
    if policy is Policy.NO:
        assert warnings and "not verified" in warnings[0], warnings
    if policy is Policy.ACCEPT_NEW:
        assert warnings and "Permanently added" in warnings[0], warnings
    assert check.key_to_confirm is None


def test_unknown_key_with_ask_on_a_terminal_waits_for_the_answer(tmp_path: Path) -> None:
    """ask with a terminal: refused for now, the key kept for the question; "yes" makes it
    trusted for the run and recorded."""
    key = new_key()
    check, _warnings, path = verifier(tmp_path, [], Policy.ASK, can_ask=True)
    assert check.validate(key) is False
    assert check.key_to_confirm is key
    assert "fingerprint is " + fingerprint(key) in check.question(key)
    assert check.answer(key, "maybe") is None
    assert check.answer(key, "no") is False
    assert check.answer(key, fingerprint(key)) is True
    assert check.answer(key, "SHA256:not-it") is False
    check.remember(key)
    assert check.validate(key) is True
    assert line(NAME, key).split()[2] in path.read_text()


@pytest.mark.parametrize("policy", STRICT, ids=lambda p: p.value)
def test_changed_key_is_refused_by_strict_policies(tmp_path: Path, policy: Policy) -> None:
    """Another key of the same type on the host's line: refused under every policy but
    "no" (OpenSSH: "you have requested strict checking"), naming FILE:LINE; nothing
    recorded."""
    old, new = new_key(), new_key()
    check, warnings, path = verifier(tmp_path, ["# comment", line(NAME, old)], policy)
    assert check.validate(new) is False
    assert check.refusal is not None
    message = str(check.refusal)
    assert "HAS CHANGED" in message and f"{path}:2" in message and fingerprint(new) in message
    assert path.read_text().count("\n") == 2
    assert warnings == []


@pytest.mark.parametrize("policy", STRICT, ids=lambda p: p.value)
def test_revoked_key_is_refused_by_strict_policies(tmp_path: Path, policy: Policy) -> None:
    """A key marked @revoked is refused, naming the line, even when also listed as good."""
    key = new_key()
    lines = [line(NAME, key), line("*", key, "revoked")]
    check, _warnings, path = verifier(tmp_path, lines, policy)
    assert check.known_hosts_arg()[0] == []  # never handed to asyncssh as trusted
    assert check.validate(key) is False
    assert "REVOKED" in str(check.refusal) and f"{path}:2" in str(check.refusal)


@pytest.mark.parametrize("revoked", [False, True], ids=["changed", "revoked"])
def test_no_lets_a_changed_key_through_untrusted(tmp_path: Path, revoked: bool) -> None:
    """StrictHostKeyChecking no and a changed (or revoked) key: connect, as OpenSSH's
    continue_unsafe does, but marked untrusted (no password, keyboard-interactive or
    agent then), with OpenSSH's lines said; nothing recorded."""
    old, new = new_key(), new_key()
    lines = [line(NAME, old)] + ([line("*", new, "revoked")] if revoked else [])
    check, warnings, path = verifier(tmp_path, lines, Policy.NO)
    before = path.read_text()
    assert check.validate(new) is True
    assert check.untrusted is new and check.refusal is None
    said = "\n".join(warnings)
    assert ("REVOKED" if revoked else "HAS CHANGED") in said and fingerprint(new) in said
    assert f"{path}:{2 if revoked else 1}" in said
    assert "Password authentication is disabled to avoid man-in-the-middle attacks." in said
    assert "Keyboard-interactive authentication is disabled" in said
    assert path.read_text() == before


def test_a_new_key_type_is_unknown_not_changed(tmp_path: Path) -> None:
    """An RSA key known, the server shows ED25519: a new key (policy decides), and ssh's
    question mentions the known type."""
    rsa, ed = new_key("ssh-rsa"), new_key()
    check, _warnings, _path = verifier(tmp_path, [line(NAME, rsa)], Policy.ACCEPT_NEW)
    assert "known for this host: RSA" in check.question(ed)
    assert check.validate(ed) is True


def test_accept_new_records_hashed_names_when_asked(tmp_path: Path) -> None:
    """HashKnownHosts: the recorded line's host field is ``|1|salt|hash``."""
    key = new_key()
    check, _warnings, path = verifier(tmp_path, [], Policy.ACCEPT_NEW, hash_names=True)
    assert check.validate(key) is True
    recorded = path.read_text()
    assert recorded.startswith("|1|") and NAME not in recorded
    assert KnownHosts.load(NAME, [str(path)]).entry_for(key) is not None


def test_nowhere_to_record_is_a_warning(tmp_path: Path) -> None:
    """UserKnownHostsFile none: accept-new still connects, and says it could not record."""
    warnings: list[str] = []
    check = HostKeyVerifier(
        KnownHosts(NAME), Policy.ACCEPT_NEW, [], can_ask=False, warn=warnings.append
    )
    assert check.validate(new_key()) is True
    assert warnings and "no UserKnownHostsFile" in warnings[0]


@pytest.mark.parametrize(
    ("text", "policy"),
    [("yes", Policy.YES), ("TRUE", Policy.YES), ("accept-new", Policy.ACCEPT_NEW),
     ("off", Policy.NO), ("ask", Policy.ASK), (None, Policy.ASK)],
)  # fmt: skip
def test_policy_parsing(text: str | None, policy: Policy) -> None:
    """StrictHostKeyChecking values as OpenSSH spells them; unset means ask."""
    assert Policy.parse(text) is policy
