"""Broken TLS for the fault server: self-signed, expired, wrong host name, legacy-only protocols.

Chains come from trustme; the self-signed leaf is made with cryptography, because a trustme leaf
always has a separate CA as its issuer and a real self-signed certificate has itself.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
import warnings
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def server_context(
    ca: trustme.CA,
    *names: str,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
) -> ssl.SSLContext:
    """A server context with a leaf issued by `ca`; `versions` pins (minimum, maximum)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if versions is not None:
        with warnings.catch_warnings():  # pinning a deprecated version is the point of the test
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version, ctx.maximum_version = versions
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    ca.issue_cert(*(names or ("127.0.0.1",)), not_before=not_before, not_after=not_after).configure_cert(ctx)
    return ctx


def expired_context(ca: trustme.CA) -> ssl.SSLContext:
    now = dt.datetime.now(dt.UTC)
    return server_context(ca, "127.0.0.1", not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=30))


def legacy_only_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server that speaks only TLS 1.0 and 1.1, like an appliance nobody patched."""
    return server_context(ca, "127.0.0.1", versions=(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1))


def self_signed_context(host: str = "127.0.0.1") -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "vendor self-signed"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hostile Vendor"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain only reads files
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        ctx.load_cert_chain(cert_path, key_path)
    return ctx


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """What a practice whose machine trusts `ca` would use."""
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx
