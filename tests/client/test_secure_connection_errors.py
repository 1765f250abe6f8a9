"""A refused login or a failed TLS handshake is a ``NaqConnectionError`` that says so, at once (issue 13).

Real servers requiring each way in (tests/harness/secure_servers.py), one per method for the
module. Each bad variant (a wrong password or token, an unknown NKey, a user of an account the
server does not know, a CA that did not sign the server's certificate, no client certificate
under mutual TLS, ...) must fail well within the connect timeout: retrying cannot help, so the
connect ends at the first refusal rather than retrying until the timeout. Files naq cannot use
(a missing or malformed credentials or seed file, a key without its certificate) are refused
before connecting: nats-py would loop forever on a credentials file without a user JWT.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loguru import logger

import naq.client
from harness.secure_servers import METHODS, PASSWORD, Certificates, SecureServer, secure_server
from harness.waiting import async_wait_for
from naq.client import NaqConnectionError, Queue
from naq.protocol import Settings

CONNECT_TIMEOUT = 10.0
"""Long on purpose: a failure that waited for it would fail the deadline below."""

DEADLINE = 5.0
"""Seconds a refused connect may take, generous for a loaded machine (it takes milliseconds)."""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SecureServer]]:
    """One started server per method, for the module."""
    with contextlib.ExitStack() as stack:
        yield {
            method: stack.enter_context(secure_server(tmp_path_factory.mktemp(f"bad-{method}"), method))
            for method in METHODS
        }


async def _refusal(env: dict[str, str]) -> tuple[str, float]:
    """The message of the ``NaqConnectionError`` an enqueue with ``env`` raises, and how long it took."""
    settings = Settings.from_env(env, connect_timeout=CONNECT_TIMEOUT)
    started = time.monotonic()
    try:
        with pytest.raises(NaqConnectionError) as caught:
            await Queue(settings=settings).enqueue("harness.jobs:add", 1, 2)
    finally:
        await naq.client.close()
    return str(caught.value), time.monotonic() - started


def _other_client_cert(server: SecureServer) -> dict[str, str]:
    other = Certificates(server.workdir / "stranger-certs", label="stranger")
    return server.with_env(NAQ_NATS_TLS_CERT=str(other.client_cert), NAQ_NATS_TLS_KEY=str(other.client_key))


BAD: dict[str, tuple[str, Callable[[SecureServer], dict[str, str]], tuple[str, ...]]] = {
    "wrong password": (
        "password",
        lambda s: s.with_env(NAQ_NATS_PASSWORD="not-the-password"),
        ("authorization failed", "NAQ_NATS_USER", "Authorization Violation"),
    ),
    "no login at all": (
        "password",
        lambda s: s.with_env(NAQ_NATS_USER=None, NAQ_NATS_PASSWORD=None),
        ("authorization failed", "no credentials (set NAQ_NATS_USER"),
    ),
    "wrong token": (
        "token",
        lambda s: s.with_env(NAQ_NATS_TOKEN="not-the-token"),
        ("authorization failed", "the token (NAQ_NATS_TOKEN)"),
    ),
    "unknown nkey": (
        "nkey",
        lambda s: s.with_env(NAQ_NATS_NKEY_SEED=str(s.unknown_nkey_seed())),
        ("authorization failed", "NAQ_NATS_NKEY_SEED"),
    ),
    "creds of another account": (
        "creds",
        lambda s: s.with_env(NAQ_NATS_CREDS=str(s.foreign_creds())),
        ("authorization failed", "foreign.creds (NAQ_NATS_CREDS)"),
    ),
    "untrusted server certificate": (
        "tls",
        lambda s: s.with_env(NAQ_NATS_TLS_CA=str(s.untrusted_ca())),
        ("TLS verification failed", "CERTIFICATE_VERIFY_FAILED"),
    ),
    "TLS without the CA": (
        "tls",
        lambda s: s.with_env(NAQ_NATS_TLS_CA=None),
        ("TLS verification failed", "NAQ_NATS_TLS_CA"),
    ),
    "untrusted server certificate, mutual TLS": (
        "mtls",
        lambda s: s.with_env(NAQ_NATS_TLS_CA=str(s.untrusted_ca())),
        ("TLS verification failed",),
    ),
    "missing client certificate": (
        "mtls",
        lambda s: s.with_env(NAQ_NATS_TLS_CERT=None, NAQ_NATS_TLS_KEY=None),
        ("TLS refused: the server requires a client certificate", "NAQ_NATS_TLS_CERT"),
    ),
    "client certificate of another CA": (
        "mtls",
        _other_client_cert,
        ("TLS refused: the server does not", "client certificate (NAQ_NATS_TLS_CERT)"),
    ),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_a_refusal_says_what_failed_at_once(case: str, servers: dict[str, SecureServer]) -> None:
    method, env_of, expected = BAD[case]
    server = servers[method]
    message, took = await _refusal(env_of(server))
    assert message.startswith(f"cannot connect to NATS at {server.url} within {CONNECT_TIMEOUT} s: "), message
    for words in expected:
        assert words in message, message
    assert took < DEADLINE, f"took {took:.1f} s: {message}"


async def test_secrets_stay_out_of_the_message(servers: dict[str, SecureServer]) -> None:
    for case in ("wrong password", "wrong token"):
        method, env_of, _ = BAD[case]
        env = env_of(servers[method])
        message, _ = await _refusal(env)
        for secret in (env.get("NAQ_NATS_PASSWORD"), env.get("NAQ_NATS_TOKEN")):
            if secret:
                assert secret not in message, message


# --- files naq cannot use: refused before connecting -------------------------------------------


async def test_a_file_that_is_not_a_creds_file_is_refused_not_a_hang(servers: dict[str, SecureServer]) -> None:
    server = servers["creds"]
    # An NKey seed file given as credentials: nats-py would read past its end forever.
    message, took = await _refusal(server.with_env(NAQ_NATS_CREDS=str(server.unknown_nkey_seed())))
    assert "is not a NATS credentials file: no user JWT and no NKey seed section" in message
    assert took < DEADLINE


async def test_a_missing_creds_file_is_named(servers: dict[str, SecureServer], tmp_path: Path) -> None:
    missing = tmp_path / "gone.creds"
    message, _ = await _refusal(servers["creds"].with_env(NAQ_NATS_CREDS=str(missing)))
    assert message.startswith(f"cannot read NAQ_NATS_CREDS file {missing}: FileNotFoundError"), message


async def test_a_seed_file_without_a_seed_is_refused(servers: dict[str, SecureServer], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.nk"
    garbage.write_text("not a seed\n")
    message, _ = await _refusal(servers["nkey"].with_env(NAQ_NATS_NKEY_SEED=str(garbage)))
    assert "NAQ_NATS_NKEY_SEED file" in message
    assert "holds no NKey user seed" in message


def test_a_damaged_seed_is_refused(servers: dict[str, SecureServer], tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.nk"
    seed = servers["nkey"].env["NAQ_NATS_NKEY_SEED"]
    # The last characters are the checksum's: the key itself is unchanged, and nkeys alone accepts it.
    damaged.write_text(Path(seed).read_text().strip()[:-3] + "AAA\n")
    message, _ = asyncio.run(_refusal(servers["nkey"].with_env(NAQ_NATS_NKEY_SEED=str(damaged))))
    assert "not a valid NKey seed (its checksum does not match: the seed is damaged)" in message


async def test_nkey_login_without_the_nkeys_package_says_how_to_install_it(
    servers: dict[str, SecureServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nkeys", None)  # import nkeys now raises ImportError
    for method, variable in (("nkey", "NAQ_NATS_NKEY_SEED"), ("creds", "NAQ_NATS_CREDS")):
        message, _ = await _refusal(servers[method].env)
        assert message == f'{variable} needs the nkeys package: pip install "naq-client[nkeys]"'


async def test_a_tls_key_without_its_certificate_is_refused(servers: dict[str, SecureServer]) -> None:
    server = servers["mtls"]
    message, _ = await _refusal(server.with_env(NAQ_NATS_TLS_CERT=None))
    assert message == "NAQ_NATS_TLS_KEY is set without NAQ_NATS_TLS_CERT: set both for mutual TLS"


async def test_a_tls_file_that_cannot_be_loaded_is_named(servers: dict[str, SecureServer], tmp_path: Path) -> None:
    server = servers["tls"]
    missing = tmp_path / "no-ca.pem"
    message, _ = await _refusal(server.with_env(NAQ_NATS_TLS_CA=str(missing)))
    assert message.startswith(f"cannot load the TLS files ({missing}): "), message


# --- a login refused later, on reconnecting ------------------------------------------------------


async def test_a_login_refused_on_reconnecting_is_logged_once_and_the_connection_comes_back(
    tmp_path: Path,
) -> None:
    # nats-py alone closes the connection for good on this refusal: every component was left with
    # a dead connection, logging "connection closed" forever.
    lines: list[str] = []
    sink = logger.add(lines.append, level="ERROR", format="{level} {message}")
    logger.enable("naq")
    try:
        with secure_server(tmp_path / "rotated", "password") as server:
            queue = Queue(settings=Settings.from_env(server.env, connect_timeout=2.0))
            await queue.enqueue("harness.jobs:add", 1, 2)
            config = server.workdir / "server.conf"
            original = config.read_text()

            def reload(text: str) -> None:
                config.write_text(text)
                assert server.server.process is not None
                server.server.process.send_signal(signal.SIGHUP)

            # The password changes on the server: the reload drops the client, which cannot get back in.
            reload(original.replace(PASSWORD, "rotated-password"))
            await async_wait_for(lambda: lines, timeout=10, what="the refusal logged")
            await asyncio.sleep(1.5)  # three more reconnect attempts (every 0.5 s): still one line
            assert len(lines) == 1, lines
            assert lines[0].startswith(f"ERROR NATS at {server.url} refused the login on reconnecting: "), lines
            assert "Authorization Violation" in lines[0]

            reload(original)

            async def enqueued() -> bool:
                try:
                    await queue.enqueue("harness.jobs:add", 3, 4)
                except NaqConnectionError:
                    return False
                return True

            await async_wait_for(enqueued, timeout=10, interval=0.2, what="an enqueue on the same connection again")
    finally:
        await naq.client.close()
        logger.remove(sink)
        logger.disable("naq")
