"""A nats-server running naq's least-privilege example configuration, and checks of its refusals.

The configuration is THE example of the docs (``docs/examples/security/nats-server.conf``), used as
it is: its passwords come from the server's environment (``NAQ_<ROLE>_PASSWORD``), and ports and
paths from the command line of :class:`harness.servers.NatsServer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

from harness.servers import NatsServer
from naq.protocol import Settings

__all__ = [
    "EXAMPLE_CONFIG",
    "ROLES",
    "RawClient",
    "inbox_prefix",
    "permissioned_server",
    "role_settings",
    "role_url",
    "violations",
]

EXAMPLE_CONFIG = Path(__file__).parents[2] / "docs" / "examples" / "security" / "nats-server.conf"
"""The example server configuration of docs/security.md."""

ROLES = ("admin", "producer", "operator", "worker", "scheduler", "monitor")
"""The users of the example configuration, ``naq-<role>``."""

_VIOLATION = re.compile(r"(publish|subscription) violation", re.IGNORECASE)
"""How nats-server logs a refused publish or subscription."""


def _password(role: str) -> str:
    return f"{role}-test-secret"


def inbox_prefix(role: str) -> str:
    """The reply inbox prefix the example configuration lets ``naq-<role>`` subscribe to."""
    return f"_INBOX_{role}"


@contextlib.contextmanager
def permissioned_server(workdir: Path) -> Iterator[NatsServer]:
    """A started, healthy JetStream server with the example configuration, stopped after the block."""
    passwords = {f"NAQ_{role.upper()}_PASSWORD": _password(role) for role in ROLES}
    saved = {name: os.environ.get(name) for name in passwords}
    os.environ.update(passwords)  # nats-server reads the passwords from its environment
    try:
        server = NatsServer(workdir, cluster_args=("-c", str(EXAMPLE_CONFIG)))
        server.start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def role_settings(server: NatsServer, role: str, **overrides: Any) -> Settings:
    """naq settings connecting as ``naq-<role>``, with the test clocks shortened."""
    defaults: dict[str, Any] = {
        "nats_url": server.url,
        "nats_user": f"naq-{role}",
        "nats_password": _password(role),
        "nats_inbox_prefix": inbox_prefix(role),
        "connect_timeout": 2.0,
        "ack_wait": 2.0,
        "worker_heartbeat_interval": 0.5,
        "worker_ttl": 2,
        "scheduler_poll_interval": 0.1,
        "scheduler_lock_ttl": 2,
        "scheduler_lock_renew_interval": 0.5,
        "min_schedule_interval": 0.05,
    }
    return Settings.from_env({}, **{**defaults, **overrides})


def role_url(server: NatsServer, role: str) -> str:
    """The server's URL with ``naq-<role>``'s user and password in it (for the API's ``nats_url``;
    the inbox prefix comes from ``NAQ_NATS_INBOX_PREFIX``, see :func:`inbox_prefix`)."""
    return server.url.replace("nats://", f"nats://naq-{role}:{_password(role)}@")


def violations(server: NatsServer) -> list[str]:
    """The permissions violations in the server's log so far."""
    return [line for line in server.log_path.read_text(errors="replace").splitlines() if _VIOLATION.search(line)]


class RawClient:
    """A plain nats-py connection as one role, for writes naq itself never makes; it records the
    permissions violations the server reports, so a test asserts a refusal by its error."""

    def __init__(self) -> None:
        self.nc: Any = None
        self.refusals: list[str] = []
        self._changed = asyncio.Event()

    async def connect(self, server: NatsServer, role: str) -> RawClient:
        """Connect as ``naq-<role>``."""
        import nats

        async def on_error(error: Exception) -> None:
            self.refusals.append(str(error))
            self._changed.set()

        self.nc = await nats.connect(
            server.url,
            user=f"naq-{role}",
            password=_password(role),
            inbox_prefix=inbox_prefix(role),
            connect_timeout=5,
            max_reconnect_attempts=0,
            error_cb=on_error,
        )
        return self

    async def close(self) -> None:
        """Close the connection."""
        if self.nc is not None:
            await self.nc.close()

    async def refused(self, subject: str, call: Awaitable[Any], timeout: float = 5.0) -> str:
        """Run ``call`` (which publishes to ``subject``) until the server refuses that subject; the
        server's words. A core publish returns before the server answers, so the call's own end
        does not count: only the refusal does, and its absence within ``timeout`` fails."""
        wanted = f'"{subject}"'.lower()  # nats-py lowercases the server's error
        task = asyncio.ensure_future(call)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                found = [words for words in self.refusals if wanted in words.lower() and "violation" in words.lower()]
                if found:
                    return found[-1]
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise AssertionError(f"no refusal of {subject} within {timeout} s; refusals: {self.refusals}")
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
