"""From `--launch standalone|ehr` (and `ehrcheck launch`) to the launch probe and its settings.

Checked before any request: the app registration must be complete, and the redirect (and launch)
URI must be one ehrcheck can listen on, unless the person pastes the redirect back (--no-browser).
The US Core probe runs with the launched patient's token when no backend credentials run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehrcheck.errors import UserInputError
from ehrcheck.evidence.ids import ProbeId
from ehrcheck.probes.base import ProbeFn

MODES = ("standalone", "ehr")
MAX_TIMEOUT = 3600.0


@dataclass
class LaunchInputs:
    settings: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, ProbeFn] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def launch_inputs(
    mode: str | None,
    credentials_path: Path | None,
    agent: Any,
    timeout: float | None,
    *,
    no_browser: bool = False,
    backend_uscore: bool = False,
    environ: Mapping[str, str] | None = None,
) -> LaunchInputs:
    if mode is None:
        return LaunchInputs()
    from ehrcheck.probes.authenticated.uscore_data import probe_uscore
    from ehrcheck.probes.launch.probe import LaunchTokens, probe_launch
    from ehrcheck.probes.launch.registration import is_loopback, load_registration

    chosen = mode.strip().lower()
    if chosen not in MODES:
        raise UserInputError(f"--launch: '{mode}' is not one of {', '.join(MODES)}")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        raise UserInputError(f"--launch-timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    app = load_registration(credentials_path, environ, ehr=chosen == "ehr")
    if not is_loopback(app.redirect_uri) and not no_browser:
        raise UserInputError(
            f"{app.source}: redirect_uri {app.redirect_uri} is not a loopback address ehrcheck can listen on "
            "(http://127.0.0.1:PORT/...); register one, or use --no-browser and paste the redirect URL"
        )
    settings: dict[str, Any] = {"launch_app": app, "launch_agent": agent, "launch_mode": chosen}
    if timeout is not None:
        settings["launch_timeout"] = timeout
    probes: dict[str, ProbeFn] = {ProbeId.launch: probe_launch}
    if not backend_uscore:  # the chart is read with the patient's own token
        settings["launch_tokens"] = LaunchTokens()
        probes[ProbeId.uscore] = probe_uscore
    return LaunchInputs(settings=settings, probes=probes, secrets=app.secrets())
