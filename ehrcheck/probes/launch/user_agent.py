"""How a user launch reaches the person who signs in: the probe hands a URL to a `UserAgent`.

The CLI's agents (ehrcheck/console/launch.py) open the system browser, or print the URL and read
the pasted redirect URL from stdin (`--no-browser`); tests drive the login over HTTP or through
Chromium. The probe does not care which: the answer comes back through the listener (or `deliver`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class UserAgent(Protocol):
    def authorize(self, url: str, purpose: str, deliver: Callable[[str], bool]) -> None:
        """Get a person to open `url` (an authorization request); `purpose` says why, in a few
        words. A redirect URL obtained some other way (pasted) goes to `deliver`. Must not block."""

    def await_ehr_launch(self, launch_uri: str) -> None:
        """Ask the person to launch the app from the EHR, which opens `launch_uri`. Must not block."""
