"""What users feel over a slow link: both clients reach the benchmark's sshd through a
loopback proxy that holds every chunk D ms in each direction (netem is not available here).

* ``wan_pty``: remoterepl's line editor vs ``ssh -t``, each in its own 80x24 pty, remote
  ``bc``. Per line each key of ``1+1`` is typed and timed until it is on the screen (the
  editor echoes locally; under ``ssh -t`` the remote tty echoes, a round trip away), then
  Enter until the answer ``2`` is shown.
* ``wan_pipe``: the same line through pipes (remoterepl vs ``ssh``, no pty), until ``2`` is
  read back.

Lines alternate between the two live sessions, as in the loopback round trips.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from benchmarks.env import BenchEnv
from benchmarks.model import RR, SSH, Config, Log, Metric
from benchmarks.procs import BenchError, LinePipe, PtyClient, visible

# The proxy is the one the link-fault tests use (the benchmark already runs on the test
# suite's sshd helpers): one implementation of a delayed, order-keeping link.
from tests.link_proxy import LinkProxy, trust_proxy

_KEYS = b"1+1"
_RESULT = re.compile(rb"(?<![0-9+])2\r*\n")  # bc's answer, not the typed line
_SETUP_TIMEOUT = 60.0  # a login is several round trips of the slow link


@contextmanager
def slow_link(env: BenchEnv, delay_ms: float) -> Iterator[str]:
    """A proxy to the benchmark's sshd, *delay_ms* each way; yields its port (for ``-p``),
    which the clients' known_hosts trusts."""
    delay = delay_ms / 1000
    with LinkProxy(env.server.port, delay_up=delay, delay_down=delay) as proxy:
        trust_proxy(env.client, proxy)
        yield str(proxy.port)


def _label(config: Config) -> str:
    return f"{config.wan_delay_ms:g} ms link"


def _shows(text: bytes) -> Callable[[bytes], bool]:
    return lambda data: text in visible(data)


def _typed_line(client: PtyClient, timeout: float = 10.0) -> tuple[list[float], float]:
    """Type ``1+1`` key by key, each awaited on the screen, then Enter until ``2`` is
    shown; return (seconds per key, seconds for Enter)."""
    keys = []
    for key in _KEYS:
        char = bytes([key])
        start = time.perf_counter()
        client.write(char)
        # Only the typed key: nothing else is drawn meanwhile (the previous answer's prompt
        # redraw was drained), and the editor's grey suggestion is a different cell.
        client.read_until(_shows(char), timeout)
        keys.append(time.perf_counter() - start)
    start = time.perf_counter()
    client.write(b"\r")
    client.read_until(lambda d: _RESULT.search(visible(d)) is not None, timeout)
    return keys, time.perf_counter() - start


def _metrics(
    key: str, title: str, samples: dict[str, list[float]], target: float, note: str
) -> list[Metric]:
    return [
        Metric(key, f"{title}: median", "ms", "lower", samples, target=target, note=note),
        Metric(f"{key}_p99", f"{title}: p99", "ms", "lower", samples, stat="p99"),
    ]


def measure_wan_pty(env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """Over the slow link, remote ``bc`` in a pty: a typed key until shown, and Enter until
    the answer is shown; remoterepl's editor vs ``ssh -t`` (same ptys, alternating lines)."""
    extra: dict[str, object] = {"delay_ms_each_way": config.wan_delay_ms}
    keys: dict[str, list[float]] = {RR: [], SSH: []}
    lines: dict[str, list[float]] = {RR: [], SSH: []}
    with slow_link(env, config.wan_delay_ms) as port:
        clients = {
            RR: PtyClient(env.remoterepl("-p", port, env.host, "bc"), env.env),
            SSH: PtyClient(env.ssh("-t", "-p", port, env.host, "bc"), env.env),
        }
        try:
            clients[RR].wait_visible(b"bc>", timeout=_SETUP_TIMEOUT)
            for client in clients.values():
                # Also waits for ssh's session: keys typed before it has the tty in raw
                # mode are echoed by the local pty and sent with the line.
                _typed_line(client, timeout=_SETUP_TIMEOUT)
                client.drain(0.3)
            for i in range(config.wan_warmup + config.wan_lines):
                for who in (RR, SSH) if i % 2 == 0 else (SSH, RR):
                    client = clients[who]
                    client.drain(0.02)  # the prompt is redrawn after the answer, untimed
                    typed, entered = _typed_line(client)
                    if i >= config.wan_warmup:
                        keys[who] += [s * 1000 for s in typed]
                        lines[who].append(entered * 1000)
        finally:
            for client in clients.values():
                client.close()
    log(
        f"{_label(config)}: key shown {statistics.median(keys[RR]):.1f} vs "
        f"{statistics.median(keys[SSH]):.1f} ms; line {statistics.median(lines[RR]):.1f} vs "
        f"{statistics.median(lines[SSH]):.1f} ms"
    )
    key_metrics = _metrics(
        "wan_key",
        f"{_label(config)}: key typed until shown, pty",
        keys,
        15.0,
        f"each key of 1+1, {config.wan_lines} lines; remoterepl editor vs ssh -t",
    )
    key_metrics[0].absolute = True  # the target is remoterepl's own: <= 15 ms
    out = [
        *key_metrics,
        *_metrics(
            "wan_pty_line",
            f"{_label(config)}: line round trip, pty",
            lines,
            1.1,
            "Enter until the answer is shown; remoterepl editor vs ssh -t",
        ),
    ]
    for metric in out:
        metric.extra.update(extra)
    return out


def measure_wan_pipe(env: BenchEnv, config: Config, log: Log) -> list[Metric]:
    """Over the slow link, ``1+1`` -> ``2`` through one remote ``bc`` per client in pipe
    mode (remoterepl vs ``ssh``), alternating lines."""
    samples: dict[str, list[float]] = {RR: [], SSH: []}
    with slow_link(env, config.wan_delay_ms) as port:
        clients = {
            RR: LinePipe(env.remoterepl("-p", port, env.host, "bc"), env.env),
            SSH: LinePipe(env.ssh("-p", port, env.host, "bc"), env.env),
        }
        try:
            for client in clients.values():
                client.round_trip(b"1+1", timeout=_SETUP_TIMEOUT)  # the login
            for i in range(config.wan_warmup + config.wan_lines):
                for who in (RR, SSH) if i % 2 == 0 else (SSH, RR):
                    seconds, reply = clients[who].round_trip(b"1+1")
                    if reply != b"2":
                        raise BenchError(f"{who} bc answered {reply!r} to 1+1")
                    if i >= config.wan_warmup:
                        samples[who].append(seconds * 1000)
        finally:
            for client in clients.values():
                client.close()
    log(
        f"{_label(config)}: pipe line {statistics.median(samples[RR]):.1f} vs "
        f"{statistics.median(samples[SSH]):.1f} ms"
    )
    out = _metrics(
        "wan_pipe_line",
        f"{_label(config)}: line round trip, pipe",
        samples,
        1.1,
        f"{config.wan_lines} lines to one remote bc, each awaiting its reply; vs ssh",
    )
    for metric in out:
        metric.extra["delay_ms_each_way"] = config.wan_delay_ms
    return out
