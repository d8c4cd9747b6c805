"""Checks over transport security: TLS versions and ciphers, the certificate, http->https.

See `ehrcheck.rules.checks` for the contract every check follows.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ehrcheck.evidence.anonymous import Certificate, Tls
from ehrcheck.evidence.view import View
from ehrcheck.rules.checks.common import CheckArgs, NoArgs, Outcome, _date, _listing, _strings, check

TLS_ORDER = {"SSLv2": 0, "SSLv3": 1, "TLSv1": 2, "TLSv1.0": 2, "TLSv1.1": 3, "TLSv1.2": 4, "TLSv1.3": 5}
TlsVersion = Literal["SSLv2", "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


def _tls(view: View) -> tuple[Tls | None, Outcome | None]:
    tls = view.transport.tls if view.transport else None
    if tls is None:
        return None, Outcome("not_observed", None, "No TLS handshake was recorded.")
    if tls.error:
        return None, Outcome("not_observed", None, f"The TLS survey could not complete: {tls.error}")
    return tls, None


class TlsMinimumArgs(CheckArgs):
    minimum: TlsVersion = "TLSv1.2"


@check(args=TlsMinimumArgs)
def tls_min_version(view: View, args: TlsMinimumArgs, as_of: dt.date) -> Outcome:
    """The negotiated TLS version is at least `args.minimum` (TLS 1.2 for (g)(10) and (d)(9))."""
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    version = tls.negotiated_version
    minimum = args.minimum
    if version not in TLS_ORDER:
        return Outcome("not_observed", version, f"The negotiated version '{version}' is not recognised.")
    if TLS_ORDER[version] >= TLS_ORDER[minimum]:
        return Outcome("pass", version, f"Negotiated {version}.")
    return Outcome("fail", version, f"Negotiated {version}, older than {minimum}.")


class LegacyTlsArgs(CheckArgs):
    version: Literal["TLSv1.0", "TLSv1.1"]


@check(args=LegacyTlsArgs)
def legacy_tls_rejected(view: View, args: LegacyTlsArgs, as_of: dt.date) -> Outcome:
    """A handshake pinned to a legacy version (TLSv1.0 / TLSv1.1) is refused by the server.

    'untestable' means our own TLS library cannot offer that version, so nothing was observed.
    """
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    version = args.version
    result = (tls.legacy or {}).get(version)
    if result == "rejected":
        return Outcome("pass", result)
    if result == "accepted":
        return Outcome("fail", result, f"The server still accepts {version}.")
    if result == "untestable":
        return Outcome("not_observed", result, f"{version} could not be tested: this machine's TLS library cannot offer it.")
    return Outcome("not_observed", result, f"No {version} handshake result was recorded.")


class CipherArgs(CheckArgs):
    min_bits: int = 128


@check(args=CipherArgs)
def tls_cipher_strength(view: View, args: CipherArgs, as_of: dt.date) -> Outcome:
    """The negotiated cipher uses at least `args.min_bits` bits of symmetric key."""
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    bits, cipher = tls.cipher_bits, tls.cipher
    if bits is None:
        return Outcome("not_observed", cipher, "The cipher strength was not recorded.")
    if bits >= args.min_bits:
        return Outcome("pass", cipher, f"{cipher} ({bits}-bit).")
    return Outcome("fail", cipher, f"{cipher} uses only {bits}-bit keys.")


@check()
def certificate_trusted(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The certificate chain verifies against the trusted roots (no self-signed or unknown issuer)."""
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    if tls.verified is True:
        return Outcome("pass", tls.certificate.issuer if tls.certificate else None)
    if tls.verified is False:
        return Outcome("fail", tls.verify_error, f"Verification failed: {tls.verify_error}.")
    return Outcome("not_observed", None, "Certificate verification was not recorded.")


@check()
def certificate_hostname_match(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The certificate's subject alternative names cover the host name the practice connects to."""
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    cert = tls.certificate or Certificate()
    match = cert.hostname_match
    names = _strings(cert.san_dns) + _strings(cert.san_ip)
    if match is True:
        return Outcome("pass", names)
    if match is False:
        host = view.transport.host if view.transport else None
        return Outcome("fail", names, f"The certificate names {_listing(names) or 'no hosts'}, not {host}.")
    return Outcome("not_observed", None, "No certificate was recorded.")


class ValidityArgs(CheckArgs):
    min_days: int = 0


@check(args=ValidityArgs)
def certificate_validity(view: View, args: ValidityArgs, as_of: dt.date) -> Outcome:
    """The certificate is valid on the as-of date with at least `args.min_days` days left.

    Computed from `not_after` against `as_of` (never the probe's own days_left), so re-scoring old
    evidence on another day is reproducible. min_days 0 is the 'not expired' rule.
    """
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    cert = tls.certificate or Certificate()
    not_after = _date(cert.not_after)
    if not_after is None:
        return Outcome("not_observed", cert.not_after, "The certificate's expiry date was not recorded.")
    not_before = _date(cert.not_before)
    days = (not_after - as_of).days
    min_days = args.min_days
    if days < 0:
        return Outcome("fail", str(not_after), f"The certificate expired on {not_after}.")
    if not_before is not None and as_of < not_before:
        return Outcome("fail", str(not_before), f"The certificate is not valid until {not_before}.")
    if days < min_days:
        return Outcome("fail", str(not_after), f"The certificate expires on {not_after}, {days} days after {as_of}.")
    return Outcome("pass", str(not_after), f"Valid until {not_after} ({days} days after {as_of}).")


@check()
def http_redirects_to_https(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """Plain http:// on port 80 either redirects to https:// or is closed; it never serves content."""
    redirect = view.transport.http_redirect if view.transport else None
    if redirect is None:
        return Outcome("not_observed", None, "The http:// variant of the URL was not tried.")
    if redirect.untested:
        return Outcome("not_observed", None, f"The http:// variant was not tried: {redirect.untested}.")
    if redirect.redirects_to_https:
        return Outcome("pass", redirect.status, f"http:// answers HTTP {redirect.status} to https://.")
    if redirect.http_closed:
        return Outcome("pass", None, "http:// is closed.")
    if redirect.serves_content:
        return Outcome("fail", redirect.status, "http:// serves the API in clear text.")
    return Outcome("fail", redirect.status, f"http:// answers HTTP {redirect.status} without moving to https://.")


def _host_verdict(tls: Tls | None, minimum: str) -> tuple[str, str]:
    """('pass' | 'warn' | 'fail' | 'not_observed', why) for one surveyed host's TLS."""
    if tls is None:
        return "not_observed", "no handshake was recorded"
    if tls.error:
        return "not_observed", tls.error
    version = tls.negotiated_version
    if version not in TLS_ORDER:
        return "not_observed", f"negotiated version '{version}' not recognised"
    if TLS_ORDER[version] < TLS_ORDER[minimum]:
        return "fail", f"negotiates {version}, older than {minimum}"
    accepted = sorted(v for v, result in (tls.legacy or {}).items() if result == "accepted")
    if accepted:
        return "warn", f"negotiates {version} but still accepts {', '.join(accepted)}"
    return "pass", f"negotiates {version}"


@check(args=TlsMinimumArgs)
def auth_hosts_tls(view: View, args: TlsMinimumArgs, as_of: dt.date) -> Outcome:
    """The authorize and token endpoints' hosts (SMART discovery, oauth-uris) and the Bulk Data file
    servers (the export manifests, when the bulk probe ran) negotiate `args.minimum` or later.

    The FHIR base's own host:port is judged from its survey (`transport.tls`). Plain-http hosts
    have no TLS: tokens over plain HTTP are HIP-023's finding, so they are named here, not judged.
    A host that also accepts TLS 1.0/1.1 is a warning (RFC 8996); one that only speaks them fails."""
    transport = view.transport
    if transport is None or transport.auth_hosts is None:
        return Outcome(
            "not_observed", None, "The authorization servers' hosts were not surveyed (evidence from an older ehrcheck)."
        )
    hosts = list(transport.auth_hosts)
    bulk = view.bulk
    for export in (bulk.group, bulk.patient) if bulk is not None else ():
        hosts += (export.file_hosts or []) if export is not None else []
    verdicts: dict[str, list[str]] = {}
    seen: set[str] = set()
    for host in hosts:
        origin = host.origin or "?"
        if origin in seen:
            continue
        seen.add(origin)
        label = f"{origin} ({', '.join(host.roles or [])})"
        if host.skipped and origin.startswith("http://"):
            verdicts.setdefault("http", []).append(label)
            continue
        if host.skipped or host.unreachable:
            verdicts.setdefault("not_observed", []).append(f"{label}: {host.skipped or host.unreachable}")
            continue
        tls = transport.tls if host.same_as_base else host.tls
        status, why = _host_verdict(tls, args.minimum)
        verdicts.setdefault(status, []).append(f"{label}: {why}")
    observed = {k: v for k, v in sorted(verdicts.items())}
    plain = f" Plain http (no TLS; see HIP-023): {_listing(verdicts['http'])}." if "http" in verdicts else ""
    for status in ("fail", "warn", "not_observed"):
        if status in verdicts:
            return Outcome(status, observed, "; ".join(verdicts[status]) + "." + plain)
    if "pass" in verdicts:
        return Outcome("pass", observed, "; ".join(verdicts["pass"]) + "." + plain)
    if plain:
        return Outcome("not_applicable", observed, plain.strip())
    return Outcome("not_applicable", None, "No authorize, token or Bulk file server was published or seen.")


# --- the handshake and the certificate, read further (issue 19) ------------------------------


@check()
def tls13_offered(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The server negotiates TLS 1.3 when the client offers it.

    NIST SP 800-52 Rev. 2 §3.1: servers SHOULD be configured to negotiate TLS 1.3, and agencies
    SHALL support it by 1 January 2024. Only judged when our own handshake offered TLS 1.3 (our
    TLS library has it, and the modern handshake succeeded); otherwise nothing was observed.
    """
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    version = tls.negotiated_version
    if not tls.client_offered_tls13:
        return Outcome("not_observed", version, "Our handshake did not offer TLS 1.3, so the server's support is unknown.")
    if version == "TLSv1.3":
        return Outcome("pass", version, "Observed: TLS 1.3 negotiated.")
    return Outcome("fail", version, f"Observed: offered TLS 1.3, the server chose {version}.")


# OpenSSL names TLS 1.2 cipher suites by their key exchange: (EC)DHE gives forward secrecy.
_EPHEMERAL = ("ECDHE-", "DHE-", "EDH-", "TLS_AES", "TLS_CHACHA20")


@check()
def forward_secrecy(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The server refuses key exchanges without forward secrecy: a TLS 1.2 handshake offering only
    static-RSA suites is rejected, and the suite the ordinary handshake chose is ephemeral (every
    TLS 1.3 suite is). Otherwise a stolen server key decrypts recorded traffic.

    NIST SP 800-52 Rev. 2 §3.3.1: prefer ephemeral key exchange (ECDHE, DHE). Not observed when our
    TLS library could not offer a static-RSA suite, since the ordinary handshake never offers one.
    """
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    cipher, version = tls.cipher, tls.negotiated_version
    if cipher and not cipher.upper().startswith(_EPHEMERAL) and version != "TLSv1.3":
        return Outcome("fail", cipher, f"Observed: {cipher} ({version}) was negotiated, a static key exchange.")
    if tls.static_kx == "accepted":
        return Outcome("fail", tls.static_kx, "Observed: a TLS 1.2 handshake offering only static-RSA suites was accepted.")
    if tls.static_kx == "rejected":
        return Outcome("pass", cipher, f"Observed: static-RSA suites refused; {cipher or 'the suite'} ({version}) negotiated.")
    return Outcome("not_observed", tls.static_kx, "No static-RSA handshake could be tried from this machine.")


# NIST SP 800-57 Part 1 Rev. 5 §5.6.1 / SP 800-52 Rev. 2 §3.2: at least 112 bits of security.
_MIN_KEY_BITS = {"RSA": 2048, "DSA": 2048, "EC": 256, "EllipticCurve": 256, "Ed25519": 256, "Ed448": 448}


@check()
def certificate_key_strength(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The server certificate's public key is strong enough: RSA (or DSA) of 2048 bits or more, an
    elliptic curve of 256 bits or more (P-256, P-384), Ed25519 or Ed448.

    NIST SP 800-52 Rev. 2 §3.2.1 (server certificates: RSA 2048+ or ECDSA P-256/P-384) and SP
    800-57 Part 1 Rev. 5 (112-bit security minimum). The leaf certificate only.
    """
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    cert = tls.certificate
    if cert is None or cert.key_bits is None or not cert.key_type:
        return Outcome("not_observed", None, "The certificate's key size was not recorded.")
    kind = cert.key_type
    minimum = _MIN_KEY_BITS.get(kind)
    observed = f"{kind} {cert.key_bits} bits"
    if minimum is None:
        return Outcome("not_observed", observed, f"Observed: {observed}, a key type this rule does not grade.")
    if cert.key_bits >= minimum:
        return Outcome("pass", observed, f"Observed: {observed}.")
    return Outcome("fail", observed, f"Observed: {observed}, under the {minimum} bits NIST requires.")


_WEAK_HASHES = {"md5", "sha1", "md2", "md4"}


@check()
def certificate_signature_hash(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The server certificate is signed with SHA-256 or stronger, never SHA-1 or MD5, whose
    collisions let a forger make a certificate with the same signature.

    NIST SP 800-131A Rev. 2 §9 (SHA-1 disallowed for digital signature generation) and the CA/Browser
    Forum Baseline Requirements §7.1.3.2. The leaf certificate only.
    """
    tls, problem = _tls(view)
    if tls is None:
        return problem or Outcome("not_observed")
    cert = tls.certificate
    algorithm = cert.signature_hash if cert is not None else None
    if not algorithm:
        return Outcome("not_observed", None, "The certificate's signature hash was not recorded.")
    if algorithm.lower() in _WEAK_HASHES:
        return Outcome("fail", algorithm, f"Observed: the certificate is signed with {algorithm.upper()}.")
    shown = "an Edwards-curve signature (hash built in)" if algorithm == "intrinsic" else algorithm.upper()
    return Outcome("pass", algorithm, f"Observed: {shown}.")


@check()
def nosniff_header(view: View, args: NoArgs, as_of: dt.date) -> Outcome:
    """The FHIR API's responses carry `X-Content-Type-Options: nosniff` (read on GET [base]/metadata),
    so a browser never runs a response as a script or page when its Content-Type says otherwise.

    OWASP ASVS 4.0.3 V14.4.4: every response contains X-Content-Type-Options: nosniff. A FHIR
    API's responses hold text written by patients and staff; sniffing turns that text into markup.
    """
    cap = view.capability
    if cap is None or not cap.found:
        return Outcome("not_applicable", None, "No CapabilityStatement response was read (see INT-001).")
    if cap.nosniff is None:
        return Outcome("not_observed", None, "The response headers were not recorded.")
    if cap.nosniff:
        return Outcome("pass", True, "Observed on GET [base]/metadata.")
    return Outcome("fail", False, "Observed: GET [base]/metadata has no X-Content-Type-Options: nosniff.")
