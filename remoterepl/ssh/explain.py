"""Failures as one clear line, worded as ssh words them, naming the host (or jump host)."""

from __future__ import annotations

import asyncio
import os
import socket

import asyncssh

from remoterepl.errors import AuthenticationFailed, ConnectError, UsageError
from remoterepl.ssh.client import Hop, HopClient


def explain(exc: Exception, hop: Hop, client: HopClient, previous: Hop | None) -> Exception:
    """One clear line for a failed connection attempt."""
    config = hop.config
    who, label = hop.who, hop.label
    if isinstance(exc, (ConnectError, UsageError)):
        return exc
    if isinstance(exc, asyncio.TimeoutError):
        return ConnectError(
            f"{who}connect to host {config.host} port {config.port}: timed "
            f"out after {config.connect_timeout:g} s (ConnectTimeout)"
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        return AuthenticationFailed(permission_denied(hop, client))
    if isinstance(exc, asyncssh.ChannelOpenError) and previous is not None:
        return ConnectError(
            f"jump host {previous.config.written}: cannot connect to "
            f"{config.host} port {config.port}: {exc.reason}"
        )
    if isinstance(exc, asyncssh.DisconnectError):
        reason = exc.reason or type(exc).__name__
        if isinstance(exc, asyncssh.ConnectionLost):
            return ConnectError(
                f"{who}connection to {label} closed before the SSH session was set up ({reason})"
            )
        return ConnectError(f"{who}{label}: disconnected: {reason}")
    if isinstance(exc, asyncssh.Error):
        return ConnectError(f"{who}{label}: {exc.reason or type(exc).__name__}")
    if isinstance(exc, socket.gaierror):
        return ConnectError(f"{who}could not resolve hostname {config.host}: {exc.strerror}")
    if isinstance(exc, OSError):
        # asyncio words errors as "Connect call failed (addr)"; ssh users expect strerror
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if hop.route.proxy_command and previous is None:
            return ConnectError(f"{who}ProxyCommand for {config.name} failed: {reason}")
        return ConnectError(f"{who}connect to host {config.host} port {config.port}: {reason}")
    if isinstance(exc, ValueError):  # asyncssh's option validation
        return UsageError(f"{who}bad connection settings: {exc}")
    return exc


def permission_denied(hop: Hop, client: HopClient) -> str:
    """``user@host: permission denied (methods)``, and why no password could be tried."""
    methods = ",".join(client.server_methods) or "no method remoterepl can use"
    text = f"{hop.who}{hop.auth.user}@{hop.label}: permission denied ({methods})"
    if hop.verifier.untrusted is not None:
        text += (
            "; password and keyboard-interactive authentication are disabled (host key not trusted)"
        )
    elif hop.auth.file_password_used:
        text += "; the password from --password-file was not accepted"
    elif hop.auth.wanted_terminal:
        text += "; no terminal to ask for a password on" + (
            "" if hop.route.is_hop else " (use --password-file)"
        )
    return text


def lost_detail(client: HopClient) -> str:
    """What follows "connection to HOST lost": keepalives unanswered, or the reason given."""
    reason = client.lost_reason
    if reason is None:
        return ""
    text = str(getattr(reason, "reason", "") or reason)
    if "keepalive" in text.lower():
        config = client.hop.config
        return (
            f": server not responding (no answer to {config.get('ServerAliveCountMax')} "
            f"keepalives sent {config.get('ServerAliveInterval')} s apart)"
        )
    return "" if text.lower() == "connection lost" else f" ({text})"
