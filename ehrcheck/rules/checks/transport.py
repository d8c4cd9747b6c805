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
