"""The merchant certificate, modelled honestly.

WeChat Pay's refund API takes a request only over TLS with the merchant's API client
certificate (``apiclient_cert.pem`` / ``apiclient_key.pem``, issued for the mch_id);
wechatpy passes ``cert=(mch_cert, mch_key)`` to requests, which presents it in the TLS
handshake and ignores it over plain HTTP. So the stand-in keeps a small test CA that
signs its own server certificate and the merchant's client certificate (CN = mch_id),
and can serve the same app on an HTTPS port that asks for a client certificate: the
handshake rejects one our CA did not sign, and the refund handler refuses a request that
brought none (``CERT_ERROR``) or another merchant's. Werkzeug hands the verified
certificate to the app as ``SSL_CLIENT_CERT``.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from werkzeug.serving import BaseWSGIServer, make_server

FILES = ("ca.pem", "ca.key", "server.pem", "server.key", "apiclient_cert.pem", "apiclient_key.pem")


def _name(common_name: str, org: str = "Tenpay.com") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def common_name(pem: str) -> str | None:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else None
    except ValueError:
        return None


@dataclass
class StandinCA:
    directory: Path
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate

    @property
    def ca_path(self) -> str:
        return str(self.directory / "ca.pem")

    @property
    def client_cert_path(self) -> str:
        return str(self.directory / "apiclient_cert.pem")

    @property
    def client_key_path(self) -> str:
        return str(self.directory / "apiclient_key.pem")

    @classmethod
    def load_or_create(cls, directory: str, mch_id: str) -> StandinCA:
        """The CA in ``directory`` (made there if missing; a temp dir when empty)."""
        path = Path(directory or tempfile.mkdtemp(prefix="wxcrm-standin-certs-"))
        path.mkdir(parents=True, exist_ok=True)
        if all((path / name).exists() for name in FILES):
            ca_key = serialization.load_pem_private_key((path / "ca.key").read_bytes(), None)
            ca_cert = x509.load_pem_x509_certificate((path / "ca.pem").read_bytes())
            return cls(path, ca_key, ca_cert)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        ca_cert = (x509.CertificateBuilder().subject_name(_name("Standin Tenpay.com Root CA"))
                   .issuer_name(_name("Standin Tenpay.com Root CA")).public_key(ca_key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        ca = cls(path, ca_key, ca_cert)
        ca._write("ca.pem", _cert_pem(ca_cert))
        ca._write("ca.key", _key_pem(ca_key))
        ca.issue("localhost", "server.pem", "server.key", server=True)
        ca.issue(mch_id or "standin-merchant", "apiclient_cert.pem", "apiclient_key.pem")
        return ca

    def _write(self, name: str, data: bytes) -> None:
        target = self.directory / name
        target.write_bytes(data)
        if name.endswith(".key"):
            os.chmod(target, 0o600)

    def issue(self, cn: str, cert_name: str, key_name: str, *, server: bool = False) -> tuple[str, str]:
        """A certificate signed by this CA: the server's, or a merchant's client certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=825)))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            usage = ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = ExtendedKeyUsageOID.CLIENT_AUTH
        cert = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).sign(self.ca_key,
                                                                                          hashes.SHA256())
        self._write(cert_name, _cert_pem(cert))
        self._write(key_name, _key_pem(key))
        return str(self.directory / cert_name), str(self.directory / key_name)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.directory / "server.pem"), str(self.directory / "server.key"))
        ctx.load_verify_locations(self.ca_path)
        ctx.verify_mode = ssl.CERT_OPTIONAL   # most calls bring none; refunds are refused without one
        return ctx


def serve_tls(app, ca: StandinCA, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """The stand-in app on an HTTPS port (threaded, in a daemon thread); ``server.url`` is its base."""
    server = make_server(host, port, app, threaded=True, ssl_context=ca.server_context())
    server.url = f"https://{host}:{server.server_port}"
    threading.Thread(target=server.serve_forever, name="standin-tls", daemon=True).start()
    app.config["STANDIN_TLS_URL"] = server.url
    return server
