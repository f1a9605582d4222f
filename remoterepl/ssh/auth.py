"""Passwords, keyboard-interactive answers and key passphrases: from the terminal, as ssh
asks for them, or from ``--password-file``.

A secret never goes to argv, the environment, logs or error messages: it is read from
/dev/tty with echo off (or from the file) and handed straight to asyncssh.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.ssh import diagnostics, ttyprompt


def read_password_file(path: str) -> str:
    """The first line of ``path``; refuse anything but a regular file (a FIFO would block
    the run, a symbolic link could be swapped) and files group/others can access, as ssh
    refuses loose private keys (blocking). Raises UsageError (exit status 2)."""
    name = f"--password-file '{shown(path)}'"
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise UsageError(f"can't read {name}: {exc.strerror or exc}") from None
    kind = _file_kind(info.st_mode)
    if kind is not None:
        raise UsageError(f"{name} is {kind}, not a regular file: refusing it")
    try:  # O_NONBLOCK: a FIFO swapped in after the check must not block either
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"can't read {name}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        kind = _file_kind(info.st_mode)
        if kind is not None:
            raise UsageError(f"{name} is {kind}, not a regular file: refusing it")
        if info.st_mode & 0o077:
            raise UsageError(
                f"{name} is accessible by group/others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}): refusing it; run chmod 600 {shown(path)}"
            )
        with os.fdopen(os.dup(fd), "rb") as file:
            first = file.readline(65536)
    except OSError as exc:
        raise UsageError(f"can't read {name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return first.decode("utf-8", "replace").rstrip("\r\n")


def _file_kind(mode: int) -> str | None:
    """What a file that is not a regular file is (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return kind
    return "not a file"


@dataclass
class Asker:
    """Whether and how this connection may ask the person at the terminal."""

    allowed: bool  # a controlling terminal exists and BatchMode is off

    async def secret(self, prompt: str) -> str | None:
        """Ask without echo; None if not allowed, no terminal, or Ctrl-D."""
        if not self.allowed:
            return None
        try:
            return await ttyprompt.ask(prompt, echo=False)
        except ttyprompt.NoTerminal:
            self.allowed = False
            return None

    async def line(self, prompt: str, *, echo: bool) -> str | None:
        """Ask with or without echo; None if not allowed, no terminal, or Ctrl-D."""
        if not self.allowed:
            return None
        try:
            return await ttyprompt.ask(prompt, echo=echo)
        except ttyprompt.NoTerminal:
            self.allowed = False
            return None

    async def tell(self, message: str) -> None:
        """Show a line on the terminal (if asking is allowed)."""
        if self.allowed:
            await ttyprompt.tell(message)


@dataclass
class PasswordAuth:
    """asyncssh's password and keyboard-interactive callbacks for one host."""

    user: str
    host: str
    asker: Asker
    max_prompts: int = 3
    file_password: str | None = None
    password_tries: int = 0
    kbdint_rounds: int = 0
    wanted_terminal: bool = False  # the server wanted a secret and there was no way to ask
    file_password_used: bool = False
    _kbdint_file_used: bool = field(default=False, repr=False)

    async def passphrase(self, path: str, attempt: int) -> str | None:
        """Prompt for a key's passphrase (attempt 1..3), as ssh words it."""
        if not self.asker.allowed:
            diagnostics.debug(f"key {path} needs a passphrase and there is no terminal")
            return None
        if attempt > 1:
            prompt = f"Bad passphrase, try again for {path}: "
        else:
            prompt = f"Enter passphrase for key '{path}': "
        return await self.asker.secret(prompt)

    async def password(self) -> str | None:
        """The next password to try, or None to give up on password authentication."""
        if self.file_password is not None:
            if self.file_password_used:
                return None
            self.file_password_used = True
            diagnostics.debug("trying the password from --password-file")
            return self.file_password
        if not self.asker.allowed:
            self.wanted_terminal = True
            diagnostics.debug("password authentication skipped: no terminal to ask on")
            return None
        if self.password_tries >= self.max_prompts:
            return None
        if self.password_tries:
            await self.asker.tell("Permission denied, please try again.")
        self.password_tries += 1
        answer = await self.asker.secret(f"{self.user}@{self.host}'s password: ")
        if answer is None:
            return None
        diagnostics.debug("trying password")
        return answer

    def kbdint_wanted(self) -> bool:
        """Whether to start (another round of) keyboard-interactive authentication."""
        if self.file_password is not None:
            return not self._kbdint_file_used
        if not self.asker.allowed:
            self.wanted_terminal = True
            diagnostics.debug("keyboard-interactive authentication skipped: no terminal")
            return False
        return self.kbdint_rounds < self.max_prompts

    async def challenge(
        self, name: str, instructions: str, prompts: Sequence[tuple[str, bool]]
    ) -> list[str] | None:
        """Answer one keyboard-interactive challenge: the server's own words, each prompt
        shown as ``(user@host) PROMPT`` like ssh, echoing only when the server says so."""
        if not prompts:
            if (name or instructions) and self.asker.allowed:
                await self.asker.tell("\n".join(t for t in (name, instructions) if t))
            return []
        if self.file_password is not None:
            self._kbdint_file_used = True
            if len(prompts) == 1 and not prompts[0][1]:
                diagnostics.debug("answering the keyboard-interactive prompt from --password-file")
                return [self.file_password]
            return None
        self.kbdint_rounds += 1
        for text in (name, instructions):
            if text:
                await self.asker.tell(text.rstrip("\n"))
        answers: list[str] = []
        for prompt, echo in prompts:
            answer = await self.asker.line(f"({self.user}@{self.host}) {prompt}", echo=echo)
            if answer is None:
                return None
            answers.append(answer)
        return answers
