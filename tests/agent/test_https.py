"""The agent's transport over HTTPS to a real collector app, checking the collector's
certificate against ``ca_file`` (a self-signed certificate made for the test)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import ssl
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.transport import EnrollError, Transport
from collector.app import build_app
from collector.demo import free_port
from collector.ingest.settings import IngestSettings
from tests.collector.ingest.helpers import SECRET, batch, config, report


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_enroll_and_report_over_https(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    (tmp_path / "secret").write_text(SECRET)
    app = build_app(config(tmp_path), ingest=IngestSettings(enroll_secret_file=tmp_path / "secret"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    try:
        good = Transport(f"https://127.0.0.1:{port}", 10, ca_file=cert)
        agent_id, token = await asyncio.to_thread(good.enroll, SECRET, "pc-tls")
        body = json.dumps(batch(report(agent_id, 1))).encode()
        sent = await asyncio.to_thread(good.send, token, body)
        assert (sent.outcome, sent.accepted) == ("ok", 1)
        good.close()
        # without the CA the certificate is refused: no report leaves, nothing is dropped
        untrusting = Transport(f"https://127.0.0.1:{port}", 10)
        sent = await asyncio.to_thread(untrusting.send, token, body)
        assert sent.outcome == "unavailable" and "CERTIFICATE" in sent.detail.upper()
        try:
            await asyncio.to_thread(untrusting.enroll, SECRET, "pc-x")
        except EnrollError as err:
            assert err.retry
        else:
            raise AssertionError("enrolled against an untrusted certificate")
    finally:
        await runner.cleanup()
