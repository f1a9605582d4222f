"""One SSH connection of a route (the destination or a jump host) as asyncssh sees it:
what is needed to open it (:class:`Hop`) and asyncssh's callbacks for it (:class:`HopClient`):
host key verdicts, keys in ssh's order, the agent, passwords, banners and -v lines."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import asyncssh

from remoterepl.environment import Console
from remoterepl.ssh import compat, diagnostics
from remoterepl.ssh.auth import PasswordAuth
from remoterepl.ssh.host_config import HostConfig
from remoterepl.ssh.hostkeys import HostKeyVerifier
from remoterepl.ssh.identities import (
    IdentityFile,
    Offer,
    describe_key,
    order_offers,
    unlock_without_public_half,
)
from remoterepl.ssh.route import Route
from remoterepl.ssh.transport import coalesce_writes


def where(host: str, port: int) -> str:
    """``host`` or ``host port N``, as ssh's messages name a server."""
    return host if port == 22 else f"{host} port {port}"


@dataclass
class Hop:
    """Everything needed to open (and explain) one SSH connection of the route."""

    route: Route
    verifier: HostKeyVerifier
    auth: PasswordAuth
    identities: list[IdentityFile]
    console: Console
    forward_agent: str | None = None

    @property
    def config(self) -> HostConfig:
        """This hop's ssh_config."""
        return self.route.host

    @property
    def label(self) -> str:
        """``host`` or ``host port N``."""
        return where(self.config.host, self.config.port)

    @property
    def who(self) -> str:
        """Message prefix naming a jump host ("" for the destination)."""
        return f"jump host {self.config.written}: " if self.route.is_hop else ""


class HopClient(asyncssh.SSHClient):
    """asyncssh's callbacks for one hop: host key, keys, agent, passwords, -v lines."""

    def __init__(self, hop: Hop) -> None:
        self.hop = hop
        self.conn: asyncssh.SSHClientConnection | None = None
        self.auth_started = asyncio.Event()
        self.lost = False
        self.lost_reason: Exception | None = None
        self.method = ""
        self.server_methods: list[str] = []
        self._offers: list[Offer] | None = None
        self._agent: asyncssh.SSHAgentClient | None = None

    # -- connection --------------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn
        coalesce_writes(conn)
        compat.ignore_packets_only_with_cbc(conn)  # one packet per line, not two
        peer = conn.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2 and peer[0]:
            diagnostics.debug(f"connection established to {peer[0]} port {peer[1]}")
        else:
            diagnostics.debug(
                f"connection established to {self.hop.label} (through a jump host or ProxyCommand)"
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.lost_reason = exc
        self.close_agent()

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        trusted = self.hop.verifier.validate(key)
        if self.hop.verifier.untrusted is not None and self.hop.forward_agent:
            self.hop.console.error(
                "Agent forwarding is disabled to avoid man-in-the-middle attacks."
            )
            self.hop.forward_agent = None
            if self.conn is not None and not compat.disable_agent_forwarding(self.conn):
                self.hop.console.error(
                    "this asyncssh version cannot cancel agent forwarding: refusing the host"
                )
                return False
        return trusted

    def auth_banner_received(self, msg: str, lang: str) -> None:
        self.hop.console.warn("".join(c for c in msg if c.isprintable() or c in "\n\t"))

    def begin_auth(self, username: str) -> None:
        self.auth_started.set()
        if self.conn is not None and diagnostics.enabled():
            diagnostics.debug(self.hop.verifier.describe(self.conn.get_server_host_key()))
            diagnostics.debug(f"authenticating to {self.hop.label} as {username}")

    def auth_completed(self) -> None:
        self.close_agent()
        diagnostics.debug(
            f"authenticated to {self.hop.label} as {self.hop.auth.user} "
            f"using {self.method or 'none'}"
        )

    def _note_methods(self) -> None:
        if self.conn is not None:
            for method in self.conn.get_server_auth_methods():
                if method not in self.server_methods:
                    self.server_methods.append(method)

    # -- public keys -------------------------------------------------------------------

    async def _agent_keys(self) -> list[asyncssh.SSHKeyPair]:
        path = self.hop.config.agent_path
        if path is None:
            diagnostics.debug("no agent (IdentityAgent none, or SSH_AUTH_SOCK unset)")
            return []
        self._agent = asyncssh.SSHAgentClient(path)
        try:
            keys = list(await self._agent.get_keys())
        except (ValueError, OSError, asyncssh.Error) as exc:
            diagnostics.debug(f"agent at {path} not usable: {exc}")
            self.close_agent()
            return []
        diagnostics.debug(f"agent at {path} holds {len(keys)} key(s)")
        return keys

    def close_agent(self) -> None:
        """Close the agent connection used for authentication (forwarding uses its own)."""
        if self._agent is not None:
            self._agent.close()
            self._agent = None

    async def public_key_auth_requested(self) -> list[asyncssh.SSHKeyPair] | None:
        self._note_methods()
        if self._offers is None:
            self._offers = order_offers(
                self.hop.identities,
                await self._agent_keys(),
                identities_only=self.hop.config.identities_only,
            )
        while self._offers:
            offer = self._offers.pop(0)
            if offer.pending is not None:
                pairs = await unlock_without_public_half(offer.pending, self.hop.auth.passphrase)
                self._offers[:0] = [Offer(p, f"{offer.label} {describe_key(p)}") for p in pairs]
                continue
            assert offer.keypair is not None
            diagnostics.debug(f"offering public key: {offer.label}")
            self.method = f"publickey ({offer.label})"
            return [offer.keypair]
        return None

    # -- passwords and keyboard-interactive ---------------------------------------------

    async def password_auth_requested(self) -> str | None:
        self._note_methods()
        if self.hop.verifier.untrusted is not None:
            diagnostics.debug("password authentication skipped: the host key is not trusted")
            return None
        self.method = "password"
        return await self.hop.auth.password()

    def kbdint_auth_requested(self) -> str | None:
        self._note_methods()
        if self.hop.verifier.untrusted is not None:
            diagnostics.debug("keyboard-interactive skipped: the host key is not trusted")
            return None
        self.method = "keyboard-interactive"
        return "" if self.hop.auth.kbdint_wanted() else None

    async def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Sequence[tuple[str, bool]]
    ) -> list[str] | None:
        return await self.hop.auth.challenge(name, instructions, prompts)
