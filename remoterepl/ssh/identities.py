"""Client keys as ssh offers them: identity files, the agent, IdentitiesOnly, passphrases.

Order (OpenSSH's ``pubkey_prepare``): the agent's keys in agent order -- an agent key that
is also an identity file is used through the agent -- then the remaining identity files in
configuration order (-i first). With IdentitiesOnly, agent keys that are not identity files
are left out. A passphrase-protected key is offered by its public half and unlocked only
when the server accepts it, with up to three passphrase prompts, as ssh does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import os
import stat
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncssh

from remoterepl.display import shown
from remoterepl.ssh import compat, diagnostics
from remoterepl.ssh.known_hosts import fingerprint, key_type

PASSPHRASE_TRIES = 3

#: Asks for the passphrase of a key file: (path, attempt number from 1) -> text, None to stop.
PassphrasePrompt = Callable[[str, int], Awaitable[str | None]]


class KeyUnavailable(ValueError):
    """A key could not be unlocked (asyncssh moves on to the next key on ValueError)."""


def describe_key(key: asyncssh.SSHKey | asyncssh.SSHKeyPair) -> str:
    """``ED25519 SHA256:...`` for a key or key pair."""
    public = (
        key
        if isinstance(key, asyncssh.SSHKey)
        else compat.public_key_from_blob(key.key_public_data)
    )
    return f"{key_type(public)} {fingerprint(public)}"


def _openssh_public_blob(data: bytes) -> bytes | None:
    """The public key stored unencrypted inside an ``openssh-key-v1`` private key file."""
    begin, end = b"-----BEGIN OPENSSH PRIVATE KEY-----", b"-----END OPENSSH PRIVATE KEY-----"
    start, stop = data.find(begin), data.find(end)
    if start < 0 or stop < 0:
        return None
    try:
        raw = base64.b64decode(b"".join(data[start + len(begin) : stop].split()))
    except (binascii.Error, ValueError):
        return None
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic):
        return None
    pos = len(magic)
    try:
        for _ in range(3):  # cipher name, KDF name, KDF options
            pos += 4 + int.from_bytes(raw[pos : pos + 4], "big")
        if int.from_bytes(raw[pos : pos + 4], "big") < 1:
            return None
        pos += 4
        length = int.from_bytes(raw[pos : pos + 4], "big")
        blob = raw[pos + 4 : pos + 4 + length]
    except IndexError:
        return None
    return blob if len(blob) == length else None


def _public_half(path: str, data: bytes) -> asyncssh.SSHKey | None:
    """The public key of a locked private key: ``PATH.pub``, else the key file itself."""
    try:
        return asyncssh.read_public_key(path + ".pub")
    except (OSError, asyncssh.KeyImportError, ValueError):
        pass
    blob = _openssh_public_blob(data)
    if blob is not None:
        try:
            return compat.public_key_from_blob(blob)
        except (asyncssh.KeyImportError, ValueError):
            return None
    return None


def _certificate(
    path: str, key: asyncssh.SSHKey, extra: Sequence[str]
) -> asyncssh.SSHCertificate | None:
    """``PATH-cert.pub`` or a CertificateFile that certifies ``key``."""
    for candidate in (path + "-cert.pub", *extra):
        try:
            cert = asyncssh.read_certificate(candidate)
        except (OSError, asyncssh.KeyImportError, ValueError):
            continue
        if cert.key.public_data == key.public_data:
            return cert
    return None


class LockedKeyPair(asyncssh.SSHKeyPair):
    """A passphrase-protected key, offered by its public half; asyncssh calls
    :meth:`sign_async` only once the server has accepted the key."""

    def __init__(
        self,
        path: str,
        data: bytes,
        public: asyncssh.SSHKey,
        cert: asyncssh.SSHCertificate | None,
        prompt: PassphrasePrompt,
    ) -> None:
        compat.init_keypair_from_public_key(self, public, cert, path)
        self.path = path
        self._data = data
        self._prompt = prompt
        self._key: asyncssh.SSHKey | None = None
        self._gave_up = False

    async def unlock(self) -> asyncssh.SSHKey:
        """Decrypt the key, asking for the passphrase up to three times."""
        if self._key is not None:
            return self._key
        if self._gave_up:
            raise KeyUnavailable(f"{self.path}: not unlocked")
        loop = asyncio.get_running_loop()
        for attempt in range(1, PASSPHRASE_TRIES + 1):
            passphrase = await self._prompt(self.path, attempt)
            if passphrase is None:
                break
            try:
                self._key = await loop.run_in_executor(
                    None, asyncssh.import_private_key, self._data, passphrase
                )
                return self._key
            except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError):
                diagnostics.debug(f"bad passphrase for {self.path}")
        self._gave_up = True
        raise KeyUnavailable(f"{self.path}: not unlocked")

    async def sign_async(self, data: bytes) -> bytes:
        """Sign with the unlocked key (asyncssh tries the next key on ValueError)."""
        key = await self.unlock()
        loop = asyncio.get_running_loop()
        return bytes(await loop.run_in_executor(None, key.sign, data, self.sig_algorithm))


@dataclass
class IdentityFile:
    """One identity file, with what could be read without a passphrase."""

    path: str
    public: asyncssh.SSHKey | None  # None: locked, and no public half to offer
    keypairs: list[asyncssh.SSHKeyPair]  # ready to offer (locked ones included)
    data: bytes = b""


def loose_permissions(path: str) -> int | None:
    """The mode of a private key file others may read (ssh refuses those), else None."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        return stat.S_IMODE(info.st_mode)
    return None


def _read_regular_file(path: str) -> bytes:
    """The bytes of ``path``; OSError if it is not a regular file (a FIFO would block)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def load_identity_files(
    paths: Sequence[str],
    certificate_files: Sequence[str],
    prompt: PassphrasePrompt,
    *,
    warn_missing: Sequence[str] = (),
    warn: Callable[[str], None],
) -> list[IdentityFile]:
    """Read identity files (blocking). Missing files are skipped (with a warning for the
    ones in ``warn_missing``: the -i files); files others can read are refused, as ssh does."""
    result: list[IdentityFile] = []
    for path in paths:
        try:
            data = _read_regular_file(path)
        except OSError as exc:
            if path in warn_missing:
                warn(f"Warning: identity file {shown(path)} not accessible: {exc.strerror or exc}.")
            else:
                diagnostics.debug(f"identity file {shown(path)}: {exc.strerror or exc}")
            continue
        mode = loose_permissions(path)
        if mode is not None:
            warn(
                f"Warning: UNPROTECTED PRIVATE KEY FILE! Permissions {mode:04o} for "
                f"'{shown(path)}' are too open; this private key will be ignored."
            )
            continue
        identity = _read_identity(path, data, certificate_files, prompt)
        if identity is None:  # ssh's words (sshconnect2.c load_identity_file)
            warn(f'Load key "{shown(path)}": invalid format')
            continue
        result.append(identity)
    return result


def _read_identity(
    path: str, data: bytes, certificate_files: Sequence[str], prompt: PassphrasePrompt
) -> IdentityFile | None:
    """The identity in ``data``; None if it holds no private key asyncssh can read."""
    try:
        key = asyncssh.import_private_key(data)
    except asyncssh.KeyImportError as exc:
        if "assphrase" not in str(exc):
            diagnostics.debug(f"identity file {shown(path)}: {exc}")
            return None
        public = _public_half(path, data)
        if public is None:  # unlocked on demand, before it can be offered
            return IdentityFile(path, None, [], data)
        locked: list[asyncssh.SSHKeyPair] = []
        cert = _certificate(path, public, certificate_files)
        if cert is not None:
            locked.append(LockedKeyPair(path, data, public, cert, prompt))
        locked.append(LockedKeyPair(path, data, public, None, prompt))
        return IdentityFile(path, public, locked, data)
    except (ValueError, OSError) as exc:
        diagnostics.debug(f"identity file {shown(path)}: {exc}")
        return None
    public = key.convert_to_public()
    cert = _certificate(path, public, certificate_files)
    # With a certificate, asyncssh returns the certified pair first, then the plain key.
    keypairs = asyncssh.load_keypairs([(key, cert)] if cert is not None else [key])
    return IdentityFile(path, public, list(keypairs))


async def unlock_without_public_half(
    identity: IdentityFile, prompt: PassphrasePrompt
) -> list[asyncssh.SSHKeyPair]:
    """A locked key whose public half is unknown must be unlocked before it is offered."""
    loop = asyncio.get_running_loop()
    for attempt in range(1, PASSPHRASE_TRIES + 1):
        passphrase = await prompt(identity.path, attempt)
        if passphrase is None:
            return []
        try:
            key = await loop.run_in_executor(
                None, asyncssh.import_private_key, identity.data, passphrase
            )
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError):
            diagnostics.debug(f"bad passphrase for {identity.path}")
            continue
        return list(asyncssh.load_keypairs([key]))
    return []


@dataclass(frozen=True)
class Offer:
    """One key to offer, and how to describe it in -v output."""

    keypair: asyncssh.SSHKeyPair | None
    label: str
    pending: IdentityFile | None = None  # locked without public half: unlock first


def order_offers(
    files: Sequence[IdentityFile],
    agent_keys: Sequence[asyncssh.SSHKeyPair],
    *,
    identities_only: bool,
) -> list[Offer]:
    """OpenSSH's order: agent keys first (identity files found in the agent go through
    it), then the rest of the identity files; IdentitiesOnly drops other agent keys."""
    remaining = list(files)
    offers: list[Offer] = []
    for agent_key in agent_keys:
        match = next(
            (
                f
                for f in remaining
                if f.public is not None and f.public.public_data == agent_key.key_public_data
            ),
            None,
        )
        if match is not None:
            remaining.remove(match)
            offers.append(Offer(agent_key, f"{match.path} {describe_key(agent_key)} (agent)"))
        elif not identities_only:
            comment = agent_key.get_comment() or "agent key"
            offers.append(Offer(agent_key, f"{comment} {describe_key(agent_key)} (agent)"))
    for identity in remaining:
        if identity.keypairs:
            for pair in identity.keypairs:
                kind = "certificate " if pair.has_cert else ""
                offers.append(Offer(pair, f"{kind}{identity.path} {describe_key(pair)}"))
        elif identity.data:
            offers.append(Offer(None, identity.path, identity))
    return offers
