"""The table a fleet run ends with on stderr when some host did not exit 0."""

from __future__ import annotations

from collections.abc import Sequence


def status_table(rows: Sequence[tuple[str, int, str]]) -> list[str]:
    """Lines for the hosts (label, exit status, how it ended) whose status is not 0, under
    a heading that counts them; none when every host exited 0."""
    failed = [row for row in rows if row[1] != 0]
    if not failed:
        return []
    width = max(len("HOST"), *(len(label) for label, _status, _text in failed))
    lines = [
        f"{len(failed)} of {len(rows)} host{'s' * (len(rows) > 1)} did not exit 0:",
        f"  {'HOST'.ljust(width)}  STATUS  HOW",
    ]
    lines += [f"  {label.ljust(width)}  {status:>6}  {text}" for label, status, text in failed]
    return lines
