"""Running a user launch in-process for tests: an app registration, a person who signs in over
HTTP (tests/support/smart_login.py), and the launch probe collected with the anonymous probes it
needs (SMART and OpenID discovery), optionally with the US Core probe reading the launched chart."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
from collections.abc import Callable
from typing import Any

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.evidence.ids import ProbeId
from ehrcheck.http.client import HttpOptions
from ehrcheck.http.redact import Secrets
from ehrcheck.models import Evidence, Finding
from ehrcheck.probes.authenticated.credentials import Secret
from ehrcheck.probes.launch.probe import LaunchTokens, probe_launch
from ehrcheck.probes.launch.registration import AppRegistration
from ehrcheck.probes.runner import collect
from ehrcheck.rules.schema import find_rule
from tests.support.smart_login import follow

DAY = dt.date(2026, 6, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app(
    client_id: str = "smart-confidential", secret: str | None = "smart-secret", scope: str | None = None, ehr: bool = False
) -> AppRegistration:
    port = free_port()
    extra: dict[str, Any] = {"scope": scope} if scope else {}
    if ehr:
        extra["scope"] = "launch " + (scope or "openid fhirUser offline_access patient/*.rs user/*.rs")
        extra["launch_uri"] = f"http://127.0.0.1:{port}/launch"
    return AppRegistration(
        client_id=client_id,
        redirect_uri=f"http://127.0.0.1:{port}/callback",
        client_secret=Secret(secret) if secret else None,
        **extra,
    )


class HttpPerson:
    """Signs in and allows, over HTTP, in a thread (the probe must not block)."""

    def __init__(self, user: str = "patient", password: str = "patient-pass", ehr_origin: str | None = None):
        self.user, self.password, self.ehr_origin = user, password, ehr_origin
        self.purposes: list[str] = []
        self.threads: list[threading.Thread] = []

    def _go(self, url: str) -> None:
        t = threading.Thread(target=follow, args=(url, self.user, self.password), daemon=True)
        t.start()
        self.threads.append(t)

    def authorize(self, url: str, purpose: str, deliver: Callable[[str], bool]) -> None:
        self.purposes.append(purpose)
        self._go(url)

    def await_ehr_launch(self, launch_uri: str) -> None:
        from urllib.parse import quote

        self.purposes.append("ehr launch")
        self._go(f"{self.ehr_origin}/ehr/launch?app={quote(launch_uri, safe='')}")


def run_launch(
    base: str, registration: AppRegistration, person: Any, mode: str = "standalone", uscore: bool = False, timeout: float = 30
) -> Evidence:
    from ehrcheck.probes.authenticated.uscore_data import probe_uscore

    settings: dict[str, Any] = {
        "launch_app": registration,
        "launch_agent": person,
        "launch_mode": mode,
        "launch_timeout": timeout,
        "sample": 1,
    }
    probes: dict[str, Any] = {ProbeId.launch: probe_launch}
    if uscore:
        settings["launch_tokens"] = LaunchTokens()
        probes[ProbeId.uscore] = probe_uscore
    return asyncio.run(
        collect(base, HttpOptions(timeout=10), extra_probes=probes, settings=settings, secrets=Secrets(registration.secrets()))
    )


def findings(evidence: Evidence, *rule_ids: str) -> dict[str, Finding]:
    return {rid: evaluate(evidence, [find_rule(rid)], DAY)[0] for rid in rule_ids}
