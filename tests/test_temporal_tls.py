"""Mutual TLS to Temporal, the production default (README, "Running the parts separately"):
with TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY our processes connect to a
frontend that requires a client certificate, and without one they do not get in.

The dev server speaks no TLS, so a TLS terminator stands in front of it here, as a cluster's
frontend (or its load balancer) would: it asks for a client certificate signed by the
agency's CA, and passes the bytes on."""

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.testing import WorkflowEnvironment

from motcua.settings import Settings
from motcua.temporal import connect_temporal


def _issue(
    name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, usage: str
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )
    if usage == "ca":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            True,
        )  # fmt: skip
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        purpose = (
            ExtendedKeyUsageOID.SERVER_AUTH
            if usage == "server"
            else ExtendedKeyUsageOID.CLIENT_AUTH
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([purpose]), False)
        if usage == "server":
            names = [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256()), key


def _write(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def _mtls_frontend(folder: Path, upstream: str) -> AsyncIterator[str]:
    """A frontend on 127.0.0.1 requiring a client certificate of the CA in `folder`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=folder / "ca.pem")
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])  # gRPC is HTTP/2
    host, port = upstream.rsplit(":", 1)

    async def relay(
        client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(
            _pipe(client_reader, server_writer), _pipe(server_reader, client_writer)
        )

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
def certificates(tmp_path: Path) -> Path:
    ca = _issue("motcua test CA", None, "ca")
    _write(tmp_path, "ca", *ca)
    _write(tmp_path, "server", *_issue("temporal frontend", ca, "server"))
    _write(tmp_path, "worker", *_issue("motcua-worker", ca, "client"))
    _write(tmp_path, "stranger", *_issue("stranger", _issue("another CA", None, "ca"), "client"))
    return tmp_path


async def test_our_processes_connect_over_mutual_tls_and_strangers_do_not(
    certificates: Path, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    upstream = temporal_env.client.service_client.config.target_host
    async with _mtls_frontend(certificates, upstream) as address:
        secured = settings.model_copy(
            update={
                "temporal_address": address,
                "temporal_tls_ca": certificates / "ca.pem",
                "temporal_tls_cert": certificates / "worker.pem",
                "temporal_tls_key": certificates / "worker.key",
            }
        )
        client = await connect_temporal(secured)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version

        # No client certificate, or one the agency's CA did not sign: not let in.
        anonymous = secured.model_copy(
            update={"temporal_tls": True, "temporal_tls_cert": None, "temporal_tls_key": None}
        )
        stranger = secured.model_copy(
            update={
                "temporal_tls_cert": certificates / "stranger.pem",
                "temporal_tls_key": certificates / "stranger.key",
            }
        )
        for refused in (anonymous, stranger):
            with pytest.raises(RuntimeError):
                async with asyncio.timeout(20):
                    await connect_temporal(refused)
