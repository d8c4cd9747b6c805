"""An ephemeral certificate authority for loopback HTTPS (the demo vendors, tests).

Everything lives in memory except for the moment `ssl` needs the server's key and certificate as
files: they are written to a private temporary directory, loaded, and deleted at once. Keys are
EC P-256 (fast to generate, and still usable with TLS 1.0 for a deliberately weak demo server).
Nothing here touches the network.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY_DAYS = 90
LOOPBACK_IP = "127.0.0.1"
LOOPBACK_DNS = "localhost"

# Accepted spellings of a minimum TLS version (vendor.yaml uses the ssl.TLSVersion names).
MIN_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1_1": ssl.TLSVersion.TLSv1_1,
    "TLSv1_2": ssl.TLSVersion.TLSv1_2,
    "TLSv1_3": ssl.TLSVersion.TLSv1_3,
}
_ALIASES = {"TLSv1.0": "TLSv1", "TLSv1_0": "TLSv1", "TLSv1.1": "TLSv1_1", "TLSv1.2": "TLSv1_2", "TLSv1.3": "TLSv1_3"}
LEGACY = ("TLSv1", "TLSv1_1")


def normalise_min_version(name: str) -> str:
    key = _ALIASES.get(str(name).strip(), str(name).strip())
    if key not in MIN_VERSIONS:
        raise ValueError(f"unknown minimum TLS version '{name}'; use one of: {', '.join(MIN_VERSIONS)}")
    return key


@dataclass(frozen=True)
class ServerTLS:
    """A server context and the minimum version it really enforces (it may differ from the one
    asked for when this Python/OpenSSL cannot offer a legacy version); `note` says why."""

    context: ssl.SSLContext
    min_version: str
    requested_min_version: str
    note: str | None = None


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


class EphemeralCA:
    """A throwaway CA, valid `days` days from now, that issues loopback server certificates."""

    def __init__(self, name: str = "ehrcheck demo CA", days: int = VALIDITY_DAYS):
        self.days = days
        self._now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # tolerate clock skew
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name, "ehrcheck demo (not a real CA)")
        ski = x509.SubjectKeyIdentifier.from_public_key(self._key.public_key())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now)
            .not_valid_after(self._now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue_server_cert(self, organization: str = "ehrcheck demo server") -> tuple[bytes, bytes]:
        """A leaf certificate for 127.0.0.1 and localhost; returns (cert PEM, key PEM)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(LOOPBACK_DNS, organization))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now)
            .not_valid_after(self._now + dt.timedelta(days=self.days))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK_IP)), x509.DNSName(LOOPBACK_DNS)]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this CA only (not the system store)."""
        ctx = ssl.create_default_context(cadata=self.cert_pem.decode("ascii"))
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def server_context(self, min_version: str = "TLSv1_2", organization: str = "ehrcheck demo server") -> ServerTLS:
        """A server context with a fresh leaf certificate and the given minimum TLS version.

        A legacy minimum (TLS 1.0/1.1) also lowers OpenSSL's security level so those handshakes
        can complete; if this Python/OpenSSL refuses, the server falls back to TLS 1.2 and
        `note` says so instead of failing.
        """
        wanted = normalise_min_version(min_version)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert_pem, key_pem = self.issue_server_cert(organization)
        with tempfile.TemporaryDirectory(prefix="ehrcheck-tls-") as tmp:
            cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
            cert_file.write_bytes(cert_pem)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key_pem)
            ctx.load_cert_chain(cert_file, key_file)
        effective, note = wanted, None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1 is deprecated
                ctx.minimum_version = MIN_VERSIONS[wanted]
            if wanted in LEGACY:
                ctx.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError, OSError) as exc:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            effective = "TLSv1_2"
            note = f"this Python/OpenSSL cannot serve {wanted} ({exc}); serving TLS 1.2 or later instead"
        return ServerTLS(context=ctx, min_version=effective, requested_min_version=wanted, note=note)
