"""Helpers for tests that start Herald (or another server) as a real process."""

from __future__ import annotations

import signal
import socket


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_sigint() -> None:
    """For `preexec_fn`: whatever started pytest (a CI script may ignore SIGINT in background
    jobs), the child starts as from a terminal, where Ctrl-C arrives as SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
