"""Every private asyncssh name remoterepl relies on, and the one private stdlib name used to
import asyncssh faster: in one place, each listed in :data:`PRIVATE_NAMES`, which
``tests/test_compat.py`` checks against the installed versions.

asyncssh offers no public hook for any of these; each use degrades or fails loudly when
the name goes away, and the test says which one did before a user notices.

No asyncssh import at module level: :mod:`remoterepl.ssh.fastimport` reads the names here
before asyncssh is imported (the fast way).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncssh
    from asyncssh.config import SSHClientConfig

#: ``module:attribute.path`` of every private name below (a module alone: it must exist).
PRIVATE_NAMES = (
    "asyncssh.connection:SSHConnection._make_global_request",  # keepalive round trips
    "asyncssh.config:SSHClientConfig._handlers",  # teaching the parser our keywords
    "asyncssh.config:SSHConfig._set_string",
    "asyncssh.config:SSHConfig._set_bool",
    "asyncssh.config:SSHConfig._set_int",
    "asyncssh.config:SSHConfig._set_string_list",
    "asyncssh.config:SSHClientConfig._percent_expand",  # %-expansion per file, turned off
    "asyncssh.config:SSHConfig._expand_val",  # ... and done once, by us
    "asyncssh.config:SSHClientConfig.load",
    "asyncssh.pattern:HostPatternList",  # known_hosts host patterns
    "asyncssh.pattern:WildcardPatternList",  # ssh_config Host patterns (config_filter.py)
    "asyncssh.public_key:get_default_certificate_algs",
    "asyncssh.public_key:get_default_public_key_algs",
    "asyncssh.public_key:decode_ssh_public_key",
    "asyncssh.public_key:SSHKeyPair.__init__",  # a key pair unlocked on demand
    "asyncssh.crypto.x509",  # skipped while importing (see fastimport)
    "ctypes.util:_findSoname_ldconfig",  # library probes without gcc/ld (see fastimport)
    "asyncssh.channel:SSHChannel._deliver_data",  # the receive window (see below)
    "asyncssh.connection:SSHConnection.send_packet",  # no SSH_MSG_IGNORE without CBC ...
    "asyncssh.connection:SSHConnection.send_newkeys",  # ... decided at every key exchange
    "asyncssh.packet:SSHPacketLogger._log_packet",  # packet log lines built only if logged
    "asyncssh.logging:SSHLogger._debug_level",
    "asyncssh.connection:SSHConnection._reset_keepalive_timer",  # a deadline, not a timer
    "asyncssh.connection:SSHConnection._keepalive_timer_callback",  # per read (see below)
)
# Instance attributes (no class attribute to look up; the test checks them on live objects):
# SSHConnection._transport (coalescing, see transport.py), SSHConfig._options (key order),
# SSHClientConnection._agent_forward_path (agent forwarding cancelled for an untrusted host),
# SSHConnection._channels (the forwarded connections still open at the session's end),
# the ``packet`` extra of asyncssh's packet log records (secret lines hidden from dumps),
# SSHChannel._recv_window, _init_recv_window and _recv_buf (the receive window),
# SSHConnection._auth_complete, _loop, _keepalive_interval, _keepalive_timer (keepalives).

X509_MODULE = "asyncssh.crypto.x509"


# -- the connection's transport (transport.py) ---------------------------------------------


def get_transport(conn: object) -> Any:
    """The transport asyncssh writes every packet to (None if it has none)."""
    return getattr(conn, "_transport", None)


def set_transport(conn: object, transport: object) -> None:
    """Make asyncssh write its packets to ``transport`` instead."""
    conn._transport = transport  # type: ignore[attr-defined]


def disable_agent_forwarding(conn: object) -> bool:
    """Cancel the agent forwarding a connection was opened with (before its session):
    asyncssh takes the choice only as a connect() argument. False when this asyncssh has
    no such attribute: the caller must then refuse the host (fail closed, a security
    control)."""
    if not hasattr(conn, "_agent_forward_path"):
        return False
    conn._agent_forward_path = None
    return True


async def keepalive_request(conn: asyncssh.SSHClientConnection) -> bool:
    """One ``keepalive@openssh.com`` global request, as ServerAliveInterval sends it,
    awaiting the server's answer (success or failure: both mean it is alive). False,
    at once, if this asyncssh has no way to send one."""
    request = getattr(conn, "_make_global_request", None)
    if request is None:
        return False
    await request(b"keepalive@openssh.com")
    return True


def open_forwarded_channels(conn: asyncssh.SSHClientConnection) -> int:
    """How many forwarded connections (TCP and Unix-socket channels, either way) are
    open on ``conn``: what ssh's channel_still_open() counts. asyncssh keeps its channels
    in ``_channels`` only; 0 (nothing to wait for) if this asyncssh has no such table."""
    channels = getattr(conn, "_channels", None)
    if not isinstance(channels, dict):
        return 0
    from asyncssh import SSHTCPChannel, SSHUNIXChannel  # loaded by now (see the top)

    kinds = (SSHTCPChannel, SSHUNIXChannel)
    return sum(isinstance(channel, kinds) for channel in channels.values())


# -- logging (diagnostics.py) ---------------------------------------------------------------


def logged_packet(record: object) -> bytes | None:
    """The payload of a packet asyncssh's packet logging dumps (its SSHLogger.packet puts
    it in the record's ``extra``), or None for other records."""
    packet = getattr(record, "packet", None)
    return packet if isinstance(packet, bytes) else None


# -- the receive window (connect.py) -----------------------------------------------------


def window_reopens_only_for_delivered_data() -> None:
    """Make asyncssh's channels grant the peer only the window that was delivered.

    asyncssh (2.24) tops the receive window back up to its full size as soon as it delivers
    one packet after the window fell below half -- counting what still waits undelivered
    in the channel's buffer (reading paused: our stdout pipe is full) as consumed. Each
    pause and resume of a reader about as fast as the stream then lets the server send
    another window's worth on top of the buffer: a 2 GB download into ``| sha256sum`` held
    ~300 MiB of packets after 5 s (tracemalloc), growing until the end. Counting the
    buffer keeps it under one window, as OpenSSH's own client does. Idempotent."""
    from asyncssh.channel import SSHChannel

    original = SSHChannel._deliver_data
    if getattr(original, "_remoterepl_window", False):
        return

    @functools.wraps(original)
    def deliver(self: Any, data: bytes, datatype: Any) -> None:
        # asyncssh adjusts by (init - window) once window < init / 2: counting the buffer
        # as window for that moment both delays the adjust and shrinks it by the buffer.
        buffered = 0
        if self._recv_window < self._init_recv_window / 2:
            buffered = sum(len(chunk) for chunk, _datatype in self._recv_buf)
        self._recv_window += buffered
        try:
            original(self, data, datatype)
        finally:
            self._recv_window -= buffered

    deliver._remoterepl_window = True  # type: ignore[attr-defined]
    SSHChannel._deliver_data = deliver  # type: ignore[method-assign]


# -- the packets a connection sends (client.py, connect.py) -------------------------------

# asyncssh sends an empty SSH_MSG_IGNORE before every packet after key exchange (its first
# version did so only with no data outstanding; the 2014 asyncio rewrite dropped that test).
# It is RFC 4251 9.3.1's countermeasure to the chosen-plaintext attack on SSH's CBC mode
# (Dai; Bellare, Kohno, Namprempre 2002/2004): CBC chains IVs, the next packet's IV is the
# last ciphertext block already on the wire, so whoever gets data of his choosing sent next
# can test a guess at an earlier block; an IGNORE encrypted in between hides that IV. CTR,
# AES-GCM and chacha20-poly1305 derive each packet's counter or nonce from the keys and the
# sequence number, never from ciphertext: there the IGNORE protects nothing (sent with every
# packet, empty, it hides neither timing nor sizes) and doubles the packets -- a typed line
# was two. The MAC does not matter: EtM changes what is authenticated, not how CBC chains,
# so every CBC cipher (and any cipher not listed) keeps it -- as PuTTY does (ssh2bpp.c's
# cbc_ignore_workaround). Decided anew at every key exchange: a rekey may change the cipher.
_AEAD = frozenset(
    {"chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"}
)
_NO_CHAINED_IV = _AEAD | {"aes128-ctr", "aes192-ctr", "aes256-ctr"}
_EMPTY_STRING = (b"\0\0\0\0",)  # the arguments of asyncssh's IGNORE: String(b"")


def ignore_packets_only_with_cbc(conn: object) -> bool:
    """From ``conn``'s next key exchange on (call it from ``connection_made``), send
    asyncssh's per-packet SSH_MSG_IGNORE only while the cipher chains IVs (see above).
    False, changing nothing, where this asyncssh lacks the methods: every packet keeps its
    IGNORE (only slower)."""
    send_newkeys = getattr(conn, "send_newkeys", None)
    send_packet = getattr(conn, "send_packet", None)
    extra_info = getattr(conn, "get_extra_info", None)
    if not (callable(send_newkeys) and callable(send_packet) and callable(extra_info)):
        return False
    if "send_newkeys" in vars(conn):
        return True  # done already
    from asyncssh.constants import MSG_IGNORE

    def without_ignore(pkttype: int, *args: bytes, **kwargs: Any) -> None:
        # asyncssh sends its own IGNORE through self.send_packet too: through here
        if pkttype == MSG_IGNORE and args == _EMPTY_STRING and not kwargs:
            return
        send_packet(pkttype, *args, **kwargs)

    def newkeys(k: bytes, h: bytes) -> None:
        send_newkeys(k, h)  # the new keys and cipher are in use when it returns
        if extra_info("send_cipher") in _NO_CHAINED_IV:
            conn.send_packet = without_ignore  # type: ignore[attr-defined]
        else:
            vars(conn).pop("send_packet", None)

    conn.send_newkeys = newkeys  # type: ignore[attr-defined]
    return True


def packet_log_lines_only_when_logged() -> None:
    """Make asyncssh build its "Sent MSG_... (N), M bytes" line for each packet only at
    debug level 3, where it is logged (it formats it first, then checks the level: ~1 µs
    per packet, in and out). Idempotent."""
    from asyncssh.logging import SSHLogger
    from asyncssh.packet import SSHPacketLogger

    original = SSHPacketLogger._log_packet
    if getattr(original, "_remoterepl_guard", False):
        return

    @functools.wraps(original)
    def log_packet(self: Any, *args: Any, **kwargs: Any) -> None:
        if SSHLogger._debug_level >= 3:  # what SSHLogger.packet checks before logging
            original(self, *args, **kwargs)

    log_packet._remoterepl_guard = True  # type: ignore[attr-defined]
    SSHPacketLogger._log_packet = log_packet  # type: ignore[method-assign]


def keepalive_deadline_not_timer() -> None:
    """Make asyncssh's keepalive (ServerAliveInterval) note when data last came in instead
    of cancelling and re-creating its timer on every read from the socket (a timer handle
    made, and a cancelled one left in the loop's heap, per packet in); when the timer fires
    before ServerAliveInterval has passed since then, it waits for the rest. A keepalive
    still goes out ServerAliveInterval after the last data in. Idempotent."""
    from asyncssh.connection import SSHConnection

    reset, fire = SSHConnection._reset_keepalive_timer, SSHConnection._keepalive_timer_callback
    if getattr(reset, "_remoterepl_deadline", False):
        return

    @functools.wraps(reset)
    def note_data_in(self: Any) -> None:
        if self._keepalive_timer is None:
            reset(self)  # arms it (once authenticated), as before
        self._remoterepl_data_in = self._loop.time()

    @functools.wraps(fire)
    def timer_fired(self: Any) -> None:
        wait = getattr(self, "_remoterepl_data_in", 0.0) + self._keepalive_interval
        wait -= self._loop.time()
        if wait > 0:
            self._keepalive_timer = self._loop.call_later(wait, self._keepalive_timer_callback)
        else:
            fire(self)

    note_data_in._remoterepl_deadline = True  # type: ignore[attr-defined]
    SSHConnection._reset_keepalive_timer = note_data_in  # type: ignore[method-assign]
    SSHConnection._keepalive_timer_callback = timer_fired  # type: ignore[method-assign]


# -- ssh_config parsing (config.py) ------------------------------------------------------


def teach_config_keywords(keywords: dict[str, str]) -> None:
    """Make asyncssh's ssh_config parser keep ``keyword -> "string" | "bool" | "int" |
    "words" | "lines"`` values (it skips keywords it does not act on), so Host/Match apply
    to them too ("words": every word of the first line, as a list; "lines": every line
    that applies, each a list of its words, as ssh adds up LocalForward lines)."""
    from asyncssh.config import SSHClientConfig, SSHConfig

    setters = {
        "string": SSHConfig._set_string,
        "bool": SSHConfig._set_bool,
        "int": SSHConfig._set_int,
        "words": SSHConfig._set_string_list,
        "lines": _append_line,
    }
    for keyword, kind in keywords.items():
        SSHClientConfig._handlers.setdefault(keyword.lower(), (keyword, setters[kind]))


def _append_line(config: Any, option: str, args: list[str]) -> None:
    """asyncssh handler: append this line's words to the option's list of lines."""
    config._options.setdefault(option, []).append(args[:])
    args.clear()


def teach_config_aliases(aliases: dict[str, str]) -> None:
    """Make asyncssh's parser read each old name (``KeepAlive``) as the keyword it means
    (``TCPKeepAlive``), where it parses that keyword at all."""
    from asyncssh.config import SSHClientConfig

    for alias, keyword in aliases.items():
        handler = SSHClientConfig._handlers.get(keyword.lower())
        if handler is not None:
            SSHClientConfig._handlers.setdefault(alias.lower(), handler)


@functools.cache
def _unexpanded_config_class() -> type[SSHClientConfig]:
    from asyncssh.config import SSHClientConfig

    class UnexpandedConfig(SSHClientConfig):
        """asyncssh's parser without its %-expansion at the end of *each* file."""

        _percent_expand: set[str] = set()  # noqa: RUF012 (asyncssh's class attribute)

    return UnexpandedConfig


def load_client_config(
    paths: Sequence[str], local_user: str, user: object, host: str, port: object
) -> SSHClientConfig:
    """Parse ``paths`` for ``host`` as asyncssh does, without expanding %-tokens (which
    would expand ``-o ProxyCommand='ssh -W %h:%p gw'`` before a later file said what %h
    is); :func:`expand_config_value` expands values once, with the final tokens.
    ``user``/``port`` are ``()`` when not given. Raises OSError and ValueError."""
    config = _unexpanded_config_class().load(
        None, list(paths), False, False, False, local_user, user, host, port
    )
    return config  # type: ignore[return-value]


def expand_config_value(config: SSHClientConfig, value: str) -> str:
    """Expand %-tokens and ``${VAR}`` in ``value`` as asyncssh would (KeyError/ValueError)."""
    return str(config._expand_val(value))


def config_keywords_in_order(config: SSHClientConfig) -> dict[str, object]:
    """The parsed keywords and values, in the order they were first set."""
    options: dict[str, object] = config._options
    return options


# -- keys (hostkeys.py, identities.py) -----------------------------------------------------


def config_host_matcher(patterns: str) -> Callable[[str], bool]:
    """Whether an ssh_config ``Host`` line's pattern list (comma-joined) selects a host,
    as asyncssh's parser decides it (compiled once, asked per host)."""
    from asyncssh.pattern import WildcardPatternList

    matcher = WildcardPatternList(patterns)
    return lambda host: bool(matcher.matches(host))


def host_patterns_match(patterns: str, name: str) -> bool:
    """Does a known_hosts host field with wildcards or negations name ``name``?"""
    from asyncssh.pattern import HostPatternList

    return bool(HostPatternList(patterns).matches(name, "", None))


def default_host_key_algorithms() -> tuple[list[bytes], list[bytes]]:
    """asyncssh's default (certificate, plain) host key algorithms, in preference order."""
    from asyncssh.public_key import get_default_certificate_algs, get_default_public_key_algs

    return list(get_default_certificate_algs()), list(get_default_public_key_algs())


def public_key_from_blob(blob: bytes) -> asyncssh.SSHKey:
    """An SSHKey from its wire-format public blob (KeyImportError if it is not one)."""
    from asyncssh.public_key import decode_ssh_public_key

    return decode_ssh_public_key(blob)


def init_keypair_from_public_key(
    pair: asyncssh.SSHKeyPair,
    public: asyncssh.SSHKey,
    cert: asyncssh.SSHCertificate | None,
    filename: str,
) -> None:
    """Initialise an SSHKeyPair subclass that offers ``public`` (and ``cert``) before its
    private half is available (asyncssh documents no constructor for key pairs)."""
    import asyncssh

    asyncssh.SSHKeyPair.__init__(
        pair,
        public.algorithm,
        public.algorithm,
        public.sig_algorithms,
        public.sig_algorithms,
        public.public_data,
        public.get_comment_bytes(),
        cert,
        filename.encode(),
    )


# -- importing asyncssh (fastimport.py) ----------------------------------------------------


def ldconfig_only_find_library() -> Callable[[str], str | None] | None:
    """CPython's ldconfig-cache look-up behind ``ctypes.util.find_library`` on Linux (None
    elsewhere): the same answer for installed libraries, without running gcc and ld."""
    import ctypes.util

    found: Callable[[str], str | None] | None = getattr(ctypes.util, "_findSoname_ldconfig", None)
    return found
