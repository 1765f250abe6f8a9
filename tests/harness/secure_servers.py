"""nats-server configured to require a login or TLS, with identities and certificates made up here.

Each :class:`SecureServer` is a real JetStream server (:class:`~tests.harness.servers.NatsServer`,
127.0.0.1, a random port, a temporary store) started with a generated ``-c`` config for one way
of authenticating (:data:`METHODS`):

- ``password``: a user and password; ``token``: a token; ``nkey``: an NKey user;
- ``creds``: decentralized auth: an operator, an account with JetStream and a user, as signed
  JWTs (``resolver: MEMORY`` with the account preloaded), the user's ``.creds`` file for naq;
- ``tls``: TLS the client verifies against the test's CA; ``mtls``: the server also requires a
  client certificate signed by that CA (``verify: true``).

``server.env`` is what a naq process needs, as the documented ``NAQ_*`` variables only. The
``wrong_*`` helpers make the bad variants (a wrong password, an unknown NKey, a user of another
account, an untrusted CA) for the error tests. JWTs are built here (the nats-io/jwt v2 format:
``base64url(header).base64url(claims).base64url(ed25519 signature)``, signed with nkeys) because
no Python library for them is a dependency.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import nkeys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.servers import NatsServer

__all__ = [
    "METHODS",
    "Certificates",
    "NKey",
    "SecureServer",
    "make_nkey",
    "secure_server",
    "sign_jwt",
    "write_creds",
]

METHODS: Final = ("password", "token", "nkey", "creds", "tls", "mtls")
"""The ways a :class:`SecureServer` can be configured, one per server."""

USER: Final = "naq-user"
PASSWORD: Final = "s3cret-pass"
TOKEN: Final = "t0ken-for-naq"

_UNLIMITED: Final = -1


# --- NKeys and JWTs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NKey:
    """An NKey pair: its seed (the secret, ``S...``) and its public key (``U...``, ``A...``, ``O...``)."""

    seed: str
    public: str

    def sign(self, data: bytes) -> bytes:
        """The ed25519 signature of ``data``."""
        return nkeys.from_seed(bytearray(self.seed.encode())).sign(data)


def make_nkey(prefix: int) -> NKey:
    """A fresh NKey of role ``prefix`` (``nkeys.PREFIX_BYTE_USER``, ``..._ACCOUNT``, ``..._OPERATOR``)."""
    seed = nkeys.encode_seed(os.urandom(32), prefix)
    public = nkeys.from_seed(bytearray(seed)).public_key
    return NKey(seed.decode(), public.decode())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(issuer: NKey, subject: str, name: str, nats: dict[str, object]) -> str:
    """A NATS JWT (v2) about ``subject``, issued and signed by ``issuer``; ``nats`` is its claim body."""
    claims: dict[str, object] = {"iat": int(time.time()), "iss": issuer.public, "name": name, "sub": subject}
    # The id is a hash of the claims without it, as nats-io/jwt makes it (the server only stores it).
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()).decode()
    claims["jti"] = str(claims["jti"]).rstrip("=")
    claims["nats"] = {**nats, "version": 2}
    header = _b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = _b64url(json.dumps(claims).encode())
    signature = issuer.sign(f"{header}.{body}".encode())
    return f"{header}.{body}.{_b64url(signature)}"


def account_jwt(operator: NKey, account: NKey, name: str) -> str:
    """An account with every limit lifted and JetStream enabled (its storage limits non-zero)."""
    limits = {
        "subs": _UNLIMITED, "data": _UNLIMITED, "payload": _UNLIMITED,
        "imports": _UNLIMITED, "exports": _UNLIMITED, "wildcards": True, "conn": _UNLIMITED, "leaf": _UNLIMITED,
        "mem_storage": _UNLIMITED, "disk_storage": _UNLIMITED, "streams": _UNLIMITED, "consumer": _UNLIMITED,
    }  # fmt: skip
    return sign_jwt(operator, account.public, name, {"type": "account", "limits": limits})


def user_jwt(account: NKey, user: NKey, name: str) -> str:
    """A user of ``account`` allowed everything."""
    body = {"type": "user", "pub": {}, "sub": {}, "subs": _UNLIMITED, "data": _UNLIMITED, "payload": _UNLIMITED}
    return sign_jwt(account, user.public, name, body)


def write_creds(path: Path, jwt: str, user: NKey) -> Path:
    """Write a ``.creds`` file (the user's JWT and seed, in nsc's layout) to ``path``."""
    path.write_text(
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{user.seed}\n"
        "------END USER NKEY SEED------\n"
    )
    path.chmod(0o600)
    return path


# --- certificates --------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
    return path


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


_CA_USAGE: Final = x509.KeyUsage(
    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
    key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False,
)  # fmt: skip
"""What the test CA's key may do: sign certificates (and their revocation lists)."""


@dataclass
class Certificates:
    """A CA and the server and client certificates it signed, as PEM files under ``directory``.

    The server's names are ``127.0.0.1`` and ``localhost``; the client's certificate is for
    client authentication (mutual TLS).
    """

    directory: Path
    label: str = "naq-test"
    ca: Path = field(init=False)
    server_cert: Path = field(init=False)
    server_key: Path = field(init=False)
    client_cert: Path = field(init=False)
    client_key: Path = field(init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (
            self._builder(_name(f"{self.label} CA"), _name(f"{self.label} CA"), ca_key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca = _write_cert(self.directory / "ca.pem", ca_cert)
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        server_auth, client_auth = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
        self.server_cert, self.server_key = self._leaf("server", ca_cert, ca_key, now, server_auth, names)
        self.client_cert, self.client_key = self._leaf("client", ca_cert, ca_key, now, client_auth, [])

    @staticmethod
    def _builder(
        subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey, now: datetime.datetime
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def _leaf(
        self,
        role: str,
        ca_cert: x509.Certificate,
        ca_key: ec.EllipticCurvePrivateKey,
        now: datetime.datetime,
        usage: x509.ObjectIdentifier,
        names: list[x509.GeneralName],
    ) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            self._builder(_name(f"{self.label} {role}"), ca_cert.subject, key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return (
            _write_cert(self.directory / f"{role}.pem", cert),
            _write_key(self.directory / f"{role}-key.pem", key),
        )


# --- the servers ---------------------------------------------------------------------------------


@dataclass
class SecureServer:
    """A started server requiring ``method``, and the ``NAQ_*`` variables that let naq in."""

    method: str
    server: NatsServer
    workdir: Path
    env: dict[str, str]
    """``NAQ_NATS_URL`` and the method's credential or TLS variables: what a naq process is given."""
    certificates: Certificates | None = None
    operator: NKey | None = None

    @property
    def url(self) -> str:
        """The URL naq is given (``tls://`` for the TLS methods)."""
        return self.env["NAQ_NATS_URL"]

    def with_env(self, **changes: str | None) -> dict[str, str]:
        """:attr:`env` with ``changes`` (a ``None`` removes the variable)."""
        env = dict(self.env)
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def foreign_creds(self) -> Path:
        """A ``.creds`` file of a user of an account this server does not know (same operator)."""
        assert self.operator is not None, "only a creds server has an operator"
        account = make_nkey(nkeys.PREFIX_BYTE_ACCOUNT)
        user = make_nkey(nkeys.PREFIX_BYTE_USER)
        return write_creds(self.workdir / "foreign.creds", user_jwt(account, user, "stranger"), user)

    def unknown_nkey_seed(self) -> Path:
        """A seed file of an NKey user this server does not know."""
        path = self.workdir / "unknown.nk"
        path.write_text(make_nkey(nkeys.PREFIX_BYTE_USER).seed + "\n")
        path.chmod(0o600)
        return path

    def untrusted_ca(self) -> Path:
        """A CA file of another CA, which did not sign the server's certificate."""
        return Certificates(self.workdir / "other-ca", label="untrusted").ca


def _config(method: str, workdir: Path) -> tuple[str, dict[str, str], Certificates | None, NKey | None]:
    """The server config for ``method``, the env a client needs beside the URL, and what was made."""
    if method == "password":
        return (
            f"authorization {{ users = [ {{ user: {json.dumps(USER)}, password: {json.dumps(PASSWORD)} }} ] }}\n",
            {"NAQ_NATS_USER": USER, "NAQ_NATS_PASSWORD": PASSWORD},
            None,
            None,
        )
    if method == "token":
        return f"authorization {{ token: {json.dumps(TOKEN)} }}\n", {"NAQ_NATS_TOKEN": TOKEN}, None, None
    if method == "nkey":
        user = make_nkey(nkeys.PREFIX_BYTE_USER)
        seed = workdir / "user.nk"
        seed.write_text(user.seed + "\n")
        seed.chmod(0o600)
        return (
            f"authorization {{ users = [ {{ nkey: {json.dumps(user.public)} }} ] }}\n",
            {"NAQ_NATS_NKEY_SEED": str(seed)},
            None,
            None,
        )
    if method == "creds":
        operator = make_nkey(nkeys.PREFIX_BYTE_OPERATOR)
        account = make_nkey(nkeys.PREFIX_BYTE_ACCOUNT)
        user = make_nkey(nkeys.PREFIX_BYTE_USER)
        # JetStream needs a system account in operator mode.
        system = make_nkey(nkeys.PREFIX_BYTE_ACCOUNT)
        operator_jwt = sign_jwt(
            operator, operator.public, "naq-operator", {"type": "operator", "system_account": system.public}
        )
        creds = write_creds(workdir / "user.creds", user_jwt(account, user, "naq"), user)
        config = (
            f"operator: {json.dumps(operator_jwt)}\n"
            f"system_account: {system.public}\n"
            "resolver: MEMORY\n"
            "resolver_preload: {\n"
            f"  {account.public}: {json.dumps(account_jwt(operator, account, 'naq'))}\n"
            f"  {system.public}: {json.dumps(sign_jwt(operator, system.public, 'SYS', {'type': 'account'}))}\n"
            "}\n"
        )
        return config, {"NAQ_NATS_CREDS": str(creds)}, None, operator
    if method in ("tls", "mtls"):
        certs = Certificates(workdir / "certs")
        verify = "  verify: true\n" if method == "mtls" else ""
        config = (
            "tls {\n"
            f"  cert_file: {json.dumps(str(certs.server_cert))}\n"
            f"  key_file: {json.dumps(str(certs.server_key))}\n"
            f"  ca_file: {json.dumps(str(certs.ca))}\n"
            f"{verify}"
            "  timeout: 2\n"
            "}\n"
        )
        env = {"NAQ_NATS_TLS_CA": str(certs.ca)}
        if method == "mtls":
            env |= {"NAQ_NATS_TLS_CERT": str(certs.client_cert), "NAQ_NATS_TLS_KEY": str(certs.client_key)}
        return config, env, certs, None
    raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")


@contextlib.contextmanager
def secure_server(workdir: Path, method: str) -> Iterator[SecureServer]:
    """A started server under ``workdir`` requiring ``method`` (one of :data:`METHODS`), stopped after."""
    workdir.mkdir(parents=True, exist_ok=True)
    config, env, certs, operator = _config(method, workdir)
    path = workdir / "server.conf"
    name = f"secure-{method}"
    # The name in the file too: a reload (SIGHUP) refuses a config whose name differs from the flag's.
    path.write_text(f"server_name: {json.dumps(name)}\n{config}")
    with NatsServer(workdir / "server", name=name, cluster_args=("-c", str(path))) as server:
        url = server.url.replace("nats://", "tls://") if certs is not None else server.url
        yield SecureServer(method, server, workdir, {"NAQ_NATS_URL": url, **env}, certs, operator)
