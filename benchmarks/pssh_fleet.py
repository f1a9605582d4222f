"""parallel-ssh's side of the fleet benchmark, run as its own process (its wall time and
peak RSS are measured as a whole, as remoterepl's and clush's are).

``python -m benchmarks.pssh_fleet --host H --port P --user U --key K --count N
--pool-size F COMMAND``: ParallelSSHClient on N entries of H (parallel-ssh reads no
ssh_config: the same user, port and key for each), ``run_command``, ``join``; exit 0 only
when every host's exit code was 0. parallel-ssh verifies no host keys (it has no option
for it), so none are given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pssh.clients import ParallelSSHClient  # type: ignore[import-untyped]


def main(argv: Sequence[str] | None = None) -> int:
    """Run COMMAND on the fleet; print failures on stderr; 0 when all exited 0."""
    parser = argparse.ArgumentParser(prog="benchmarks.pssh_fleet")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=64)
    parser.add_argument("command")
    args = parser.parse_args(argv)
    client = ParallelSSHClient(
        [args.host] * args.count,
        user=args.user,
        port=args.port,
        pkey=args.key,
        pool_size=args.pool_size,
        allow_agent=False,
        identity_auth=False,  # only the key given, as IdentitiesOnly for the others
        timeout=60,
    )
    output = client.run_command(args.command, stop_on_errors=False)
    client.join(output)
    bad = [(o.host, o.exit_code, o.exception) for o in output if o.exit_code != 0]
    for host, code, exc in bad[:5]:
        print(f"pssh_fleet: {host}: exit {code} {exc!r}", file=sys.stderr)
    if bad:
        print(f"pssh_fleet: {len(bad)} of {len(output)} hosts failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
