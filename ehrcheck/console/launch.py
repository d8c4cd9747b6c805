"""The person at the keyboard during a user launch: the CLI's two `UserAgent`s.

`SystemBrowser` opens each authorization URL in the system browser (Python's `webbrowser`, which
honours $BROWSER); `PasteBack` (--no-browser, for SSH and headless machines) prints it and reads
the redirect URL the browser ended on from stdin. Either way the loopback listener also accepts
the redirect, so whichever arrives first counts. URLs are printed without markup or links.
"""

from __future__ import annotations

import sys
import threading
import webbrowser
from collections.abc import Callable

from rich.console import Console


class SystemBrowser:
    def __init__(self, console: Console):
        self.console = console

    def authorize(self, url: str, purpose: str, deliver: Callable[[str], bool]) -> None:
        self.console.print(f"user launch: opening the browser to {purpose}", highlight=False, markup=False)
        self.console.print(f"  if it does not open, visit: {url}", highlight=False, markup=False, soft_wrap=True)
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

    def await_ehr_launch(self, launch_uri: str) -> None:
        self.console.print(
            f"user launch: waiting for the EHR to launch the app at {launch_uri} (start it from the EHR sandbox)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


# A redirect URL with its code and state is well under 2 KB; browsers cap URLs near 32 KB.
MAX_PASTE = 32_768
MAX_SKIPPED = 8_000_000
MAX_REFUSALS_SHOWN = 10


class PasteBack(SystemBrowser):
    def __init__(self, console: Console, stdin=None):
        super().__init__(console)
        self.stdin = stdin or sys.stdin

    def authorize(self, url: str, purpose: str, deliver: Callable[[str], bool]) -> None:
        self.console.print(f"user launch: open this URL in a browser to {purpose}:", highlight=False, markup=False)
        self.console.print(url, highlight=False, markup=False, soft_wrap=True)
        self.console.print(
            "then paste the address the browser ends on (the redirect URI) and press Enter:", highlight=False, markup=False
        )
        threading.Thread(target=self._read, args=(deliver,), daemon=True).start()

    def _read(self, deliver: Callable[[str], bool]) -> None:
        refused = 0
        while True:
            try:
                line = self.stdin.readline(MAX_PASTE + 1)  # capped: `< /dev/zero` is one endless line
            except (OSError, UnicodeDecodeError, ValueError):  # stdin closed or not text: stop listening to it
                return
            if not line:
                return
            if len(line) > MAX_PASTE and not line.endswith("\n"):
                if not self._skip_rest_of_line():
                    self.console.print(
                        f"stdin gave over {MAX_SKIPPED // 1_000_000} MB without a line end: no longer reading it "
                        "(the redirect can still reach the redirect URI's listener)",
                        highlight=False,
                        markup=False,
                    )
                    return
                self.console.print(
                    f"that line is longer than {MAX_PASTE} characters, not a redirect URL; paste the address alone",
                    highlight=False,
                    markup=False,
                )
                continue
            if line.strip():
                try:
                    accepted = deliver(line.strip())
                except Exception:  # noqa: BLE001 - the run ended (timeout) while we waited
                    return
                if accepted:
                    return
                refused += 1
                if refused <= MAX_REFUSALS_SHOWN:  # `yes URL | ehrcheck launch` must not flood stderr
                    self.console.print(
                        "that address is not the redirect of this request (not on the redirect URI, or its state or a readable code is missing); "
                        + ("paste it again" if refused < MAX_REFUSALS_SHOWN else "further refused lines are not reported"),
                        highlight=False,
                        markup=False,
                    )

    def _skip_rest_of_line(self) -> bool:
        """Read past the end of an overlong line, a chunk at a time; False if none comes within
        MAX_SKIPPED characters (or stdin ends)."""
        skipped = 0
        while skipped < MAX_SKIPPED:
            try:
                chunk = self.stdin.readline(MAX_PASTE)
            except (OSError, UnicodeDecodeError, ValueError):
                return False
            if not chunk:
                return False
            if chunk.endswith("\n"):
                return True
            skipped += len(chunk)
        return False
