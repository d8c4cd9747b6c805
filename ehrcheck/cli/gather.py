"""Gathering evidence for `audit` and `probe`: every input checked first, then the probes run with
live progress on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ehrcheck.cli.common import http_options
from ehrcheck.errors import UserInputError

if TYPE_CHECKING:
    from rich.console import Console


def check_base_url(base_url: str) -> None:
    """UserInputError (exit 2, naming BASE_URL) for a base URL no request could be made to: no
    http(s) scheme, control characters or spaces inside it, no host, or a port out of range.
    Found here, before any output is planned or probe started, not as a failure mid-run."""
    import re
    from urllib.parse import urlsplit

    from ehrcheck.http.redact import redact_url
    from ehrcheck.inert import visible

    url = base_url.strip()

    def shown() -> str:  # never quote a password from the user-info
        try:
            return visible(redact_url(url))
        except ValueError:
            return "the URL"

    if not url.lower().startswith(("http://", "https://")):
        raise UserInputError(f"BASE_URL '{shown()}' must start with http:// or https://")
    if re.search(r"[\ud800-\udfff]", url):  # bytes the terminal could not decode as UTF-8
        raise UserInputError("BASE_URL holds bytes that are not UTF-8 text; type the address again")
    if re.search(r"[\x00-\x20\x7f-\x9f]", url):
        raise UserInputError(f"BASE_URL '{shown()}' contains a control character or a space; remove it (spaces are written %20)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UserInputError(f"BASE_URL '{shown()}': {exc} (a port is 1-65535)") from None
    if not parts.hostname:
        raise UserInputError(f"BASE_URL '{shown()}' has no host name")
    if port == 0:
        raise UserInputError(f"BASE_URL '{shown()}': port 0 cannot be connected to (a port is 1-65535)")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        # FHIR's [base] is scheme, host and path: `[base]/metadata` put the query inside the path,
        # and what a query carries (a key, a session) reached every output. Not quoted.
        where = "query (?...)" if parts.query or "?" in url else "fragment (#...)"
        cut = urlsplit(url)._replace(query="", fragment="").geturl()
        raise UserInputError(
            f"BASE_URL '{visible(redact_url(cut))}' has a {where}: a FHIR base URL has none (the service"
            " is asked at BASE_URL/metadata); remove it, and give credentials with --credentials"
        )


def gather(
    base_url: str,
    options,
    console: Console,
    quiet: bool,
    label: str | None = None,
    extra_probes=None,
    settings=None,
    secrets=None,
    *,
    include_phi: bool = False,
    partial_to: Path | None = None,
    claims=None,
):
    """Run the probes (plus `extra_probes`, given their `settings`) with live progress on stderr.

    On Ctrl-C the attempts that finished are kept: written (atomically, with `claims`) to
    `partial_to` when given, and the command exits 130 without writing any report."""
    import asyncio

    from ehrcheck.http.redact import Secrets, redact_url
    from ehrcheck.inert import terminal
    from ehrcheck.probes.runner import (
        assemble,
        collect,
        normalise_base_url,
        now_iso,
        probe_ids,
    )

    check_base_url(base_url)
    secrets = secrets if secrets is not None else Secrets()
    secrets.add_url(base_url)
    secrets.add_settings(settings)
    if include_phi:
        settings = {**(settings or {}), "include_phi": True}
        console.print(
            "[bold yellow]warning:[/] --include-phi: patient data the probes see will be kept in the evidence; "
            "treat the evidence file as PHI under HIPAA and do not share it.",
            highlight=False,
        )
    if not quiet:
        console.print(f"Probing [bold]{terminal(redact_url(normalise_base_url(base_url)))}[/] …", highlight=False)
    finished: dict = {}
    started = now_iso()

    def on_done(probe_id, attempt):
        finished[probe_id] = attempt
        if not quiet:  # a reason may quote what a server echoed back: scrub before printing
            from ehrcheck.console.summary import probe_line  # rich: only when something is shown

            probe_line(console, probe_id, attempt.model_copy(update={"reason": secrets.scrub(attempt.reason or "") or None}))

    try:
        if quiet:
            return asyncio.run(
                collect(
                    base_url, options, on_done=on_done, label=label, extra_probes=extra_probes, settings=settings, secrets=secrets
                )
            )
        # The authenticated probes run for minutes: they bring a progress bar in place of the spinner.
        display = (settings or {}).get("progress") or console.status("probing (metadata, SMART, OpenID, access control, TLS) …")
        with display:
            return asyncio.run(
                collect(
                    base_url, options, on_done=on_done, label=label, extra_probes=extra_probes, settings=settings, secrets=secrets
                )
            )
    except KeyboardInterrupt:
        note = ""
        if partial_to is not None:
            from ehrcheck.files.store import evidence_text, write_output

            partial = assemble(base_url, options, probe_ids(extra_probes), finished, started, label, secrets)
            partial.claims = claims
            write_output(partial_to, evidence_text(partial))
            note = f"; kept the evidence of {len(finished)} finished probe(s) in {terminal(partial_to)}, no report written"
        console.print(f"[red]interrupted[/]{note}", highlight=False)
        raise SystemExit(130) from None


def certification_setup(chpl_id, chpl_file, chpl_url, endpoints_bundle, endpoints_sample, claims_data, claims_path):
    """The CHPL and service-base-URL probes the flags ask for; the API key comes from the
    environment only (CHPL_API_KEY), never from a flag."""
    import os

    from ehrcheck.probes.certification.inputs import certification_inputs

    return certification_inputs(
        chpl_ids=chpl_id,
        chpl_file=chpl_file,
        chpl_url=chpl_url,
        endpoints_bundle=endpoints_bundle,
        endpoints_sample=endpoints_sample,
        claims=claims_data,
        claims_path=claims_path,
        environ=dict(os.environ),
    )


def chpl_key_problem(evidence) -> str | None:
    from ehrcheck.probes.certification.chpl import api_key_problem

    return api_key_problem(evidence)


def launch_timed_out(evidence) -> str | None:
    from ehrcheck.evidence.ids import ProbeId

    attempt = evidence.probes.get(ProbeId.launch)
    if attempt is None:
        return None
    from ehrcheck.probes.launch.probe import BROWSER_TIMEOUT

    if (attempt.reason or "").startswith(BROWSER_TIMEOUT):
        return f"user launch: {attempt.reason}; sign in and allow access in the browser, or raise --launch-timeout"
    return None


def unreachable_reason(evidence) -> str | None:
    avail = evidence.probes.get("availability")
    if avail and not avail.data.get("reachable"):
        return avail.reason or "the server did not answer"
    return None


def auth_setup(
    credentials,
    patients,
    us_core,
    sample,
    bulk_timeout,
    claims_data,
    claims_path,
    console: Console,
    quiet: bool,
    us_core_version=None,
    tx_server=None,
):
    """The authenticated probes, when credentials are given (file or EHRCHECK_* variables)."""
    from ehrcheck.probes.authenticated.inputs import authenticated_inputs

    auth = authenticated_inputs(
        credentials,
        patients,
        us_core,
        sample,
        bulk_timeout,
        claims_data,
        claims_path,
        us_core_version=us_core_version,
        tx_server=tx_server,
    )
    if auth.probes and not quiet:
        from ehrcheck.console.progress import ProbeProgress

        auth.settings["progress"] = ProbeProgress(console)
    return auth


def launch_setup(launch, credentials, no_browser, launch_timeout, backend_uscore: bool, console: Console):
    """The user-launch probe, when --launch is given; the person is reached through the browser or,
    with --no-browser, by pasting the redirect URL back on stdin."""
    from ehrcheck.probes.launch.inputs import LaunchInputs, launch_inputs

    if launch is None:
        return LaunchInputs()  # no user launch: its browser and listener code stays unimported
    from ehrcheck.console.launch import PasteBack, SystemBrowser

    agent = PasteBack(console) if no_browser else SystemBrowser(console)
    return launch_inputs(launch, credentials, agent, launch_timeout, no_browser=no_browser, backend_uscore=backend_uscore)


def probe_evidence(
    base_url: str,
    *,
    console: Console,
    quiet: bool,
    timeout: float,
    ca_bundle: Path | None,
    claims: Path | None,
    label: str | None,
    chpl_id,
    chpl_file,
    chpl_url,
    endpoints_bundle,
    endpoints_sample,
    credentials,
    patient,
    us_core,
    sample,
    bulk_timeout,
    include_phi: bool,
    partial_to: Path | None,
    launch: str | None = None,
    no_browser: bool = False,
    launch_timeout: float | None = None,
    us_core_version: str | None = None,
    tx_server: str | None = None,
):
    """What `audit` and `probe` share: validate every probe input, then gather the evidence.
    Inputs are all checked before the first request, so a typo never costs a half-run."""
    from ehrcheck.files.store import load_claims

    claims_data = load_claims(claims) if claims else None
    options = http_options(timeout, ca_bundle)
    cert = certification_setup(chpl_id, chpl_file, chpl_url, endpoints_bundle, endpoints_sample, claims_data, claims)
    auth = auth_setup(
        credentials, patient, us_core, sample, bulk_timeout, claims_data, claims, console, quiet, us_core_version, tx_server
    )
    user = launch_setup(launch, credentials, no_browser, launch_timeout, "uscore" in auth.probes, console)
    secrets = auth.secrets
    if user.secrets:
        from ehrcheck.http.redact import Secrets

        secrets = secrets if secrets is not None else Secrets()
        for value in user.secrets:
            secrets.add(value)
    evidence = gather(
        base_url,
        options,
        console,
        quiet,
        label,
        {**cert.probes, **auth.probes, **user.probes},
        {**cert.settings, **auth.settings, **user.settings},
        secrets,
        include_phi=include_phi,
        partial_to=partial_to,
        claims=claims_data,
    )
    evidence.claims = claims_data
    return evidence


def exit_if_unusable(evidence, console: Console, saved_to: Path | None) -> None:
    """Exit 2 when the target never answered, or CHPL refused the API key: nothing to score."""
    from ehrcheck.inert import terminal

    reason = unreachable_reason(evidence)
    problem = f"{evidence.target.base_url} could not be reached: {reason}" if reason else chpl_key_problem(evidence)
    problem = problem or launch_timed_out(evidence)
    if problem:
        saved = f" (evidence saved to {terminal(saved_to)})" if saved_to else ""
        console.print(f"[bold red]error:[/] {terminal(problem)}{saved}", highlight=False)
        raise SystemExit(2)
