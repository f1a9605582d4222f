"""Key bindings of the interactive front end."""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.filters import Condition
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent


def make_key_bindings(*, interrupt: Callable[[], None], end_input: Callable[[], None]
                      ) -> KeyBindings:
    """Ctrl-C interrupts the remote work (not us); Ctrl-D on an empty line ends its input."""
    bindings = KeyBindings()

    @Condition
    def line_is_empty() -> bool:
        from prompt_toolkit.application import get_app

        return not get_app().current_buffer.text

    @bindings.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        event.current_buffer.reset()  # like a terminal: the half-typed line is discarded
        interrupt()

    @bindings.add("c-d", filter=line_is_empty)
    def _end_input(event: KeyPressEvent) -> None:
        end_input()

    return bindings
