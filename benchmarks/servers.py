"""The loopback servers the benchmarks measure against, each a child process stopped by its PID:

- sekmet-fhir (from .venv-sekmet) with scripts/servers' carebundle data (10 patients, seed 7),
  plain HTTP or TLS with a trustme certificate (sekmet hands the key pair to uvicorn);
- tests/support/many_endpoints.py: one process serving any number of FHIR bases;
- a TLS-terminating proxy (benchmarks/tls_proxy.py) in front of it, for the peer, which only
  speaks HTTPS;
- `python -m http.server` for the NDJSON files.

Every port is picked free on 127.0.0.1 at start, so a benchmark never collides with the test
servers other people run on this machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SEKMET = ROOT / ".venv-sekmet" / "bin" / "sekmet"
CAREBUNDLE = ROOT / ".venv-gen" / "bin" / "carebundle"
# The same cohort scripts/servers loads for the tests, so the audited server is the tested one.
CAREBUNDLE_ARGS = ("generate", "--profile", "mixed", "--count", "10", "--sex", "mixed", "--seed", "7")
ACCESS_LINE = re.compile(r'"(GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS) \S+ HTTP/')


class SetupError(Exception):
    """A prerequisite is missing (run scripts/setup) or a server would not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ok, what: str, proc: subprocess.Popen, log: Path | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise SetupError(f"{what} exited with {proc.returncode} before it was ready\n{tail}")
        if ok():
            return
        time.sleep(0.1)
    raise SetupError(f"{what} was not ready within {timeout:.0f} s")


def stop(proc: subprocess.Popen | None) -> None:
    """TERM, then KILL after 10 s: only the process we started, by its PID."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(folder: Path) -> TlsFiles:
    """A throw-away CA and a certificate for 127.0.0.1 and localhost (trustme, from the test extra)."""
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    issued.cert_chain_pems[0].write_to_path(str(files.cert))
    for pem in issued.cert_chain_pems[1:]:
        pem.write_to_path(str(files.cert), append=True)
    return files


def carebundle_bundles(folder: Path) -> list[Path]:
    if not CAREBUNDLE.exists():
        raise SetupError(f"{CAREBUNDLE} missing: run scripts/setup first")
    if not any(folder.glob("*.json")):
        subprocess.run(
            [str(CAREBUNDLE), *CAREBUNDLE_ARGS, "--out", str(folder)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    return sorted(folder.glob("*.json"))


class Sekmet:
    """One sekmet instance with a fresh store holding the carebundle cohort."""

    def __init__(self, folder: Path, tls: TlsFiles | None = None):
        self.folder = folder
        self.tls = tls
        self.port = free_port()
        scheme = "https" if tls else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}/fhir"
        self.log = folder / "serve.log"
        self.proc: subprocess.Popen | None = None

    def _verify(self):
        return str(self.tls.ca) if self.tls else True

    def launch(self) -> Sekmet:
        """Start the process and return at once (two instances boot in parallel); `load` waits."""
        if not SEKMET.exists():
            raise SetupError(f"{SEKMET} missing: run scripts/setup first")
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        settings = [
            f"base_url: {self.base}",
            "host: 127.0.0.1",
            f"port: {self.port}",
            f"data_dir: {data}",
            f"own_private_key_path: {data / 'sekmet_private.pem'}",
            "simulator: {enabled: false}",  # it would invent resources while we measure
        ]
        if self.tls:
            settings += [f"tls_certfile: {self.tls.cert}", f"tls_keyfile: {self.tls.key}"]
        config = self.folder / "settings.yaml"
        config.write_text("\n".join(settings) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEKMET_")}  # they would beat settings.yaml
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(SEKMET), "serve", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        return self

    def load(self, bundles: Sequence[Path]) -> None:
        """Wait until /metadata answers, then POST the transaction Bundles."""
        assert self.proc is not None

        def ready() -> bool:
            try:
                return httpx.get(f"{self.base}/metadata", verify=self._verify(), timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, f"sekmet on {self.base}", self.proc, self.log)
        with httpx.Client(verify=self._verify(), timeout=60) as client:
            for bundle in bundles:
                resp = client.post(
                    self.base,
                    content=bundle.read_bytes(),
                    headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
                )
                if resp.status_code >= 300:
                    raise SetupError(f"loading {bundle.name} into {self.base}: HTTP {resp.status_code}")

    def requests_served(self) -> int:
        """Requests in uvicorn's access log so far: the server's own count, the same for any client."""
        return len(ACCESS_LINE.findall(self.log.read_text(errors="replace")))

    def stop(self) -> None:
        stop(self.proc)


class Child:
    """A helper server run as `python -m MODULE ...` that prints its origin on its first line."""

    def __init__(self, argv: Sequence[str], log: Path, what: str):
        self.what = what
        self.log = log
        with log.open("wb") as err:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                list(argv), cwd=ROOT, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line:
            self.proc.wait(5)
            raise SetupError(f"{what} did not start:\n{log.read_text(errors='replace')[-2000:]}")
        self.origin = line

    def stop(self) -> None:
        stop(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def cpu_seconds(self) -> float:
        """CPU (user + system) the server has used so far, from /proc: what serving costs it."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def many_endpoints(count: int, list_file: Path, log: Path, ports: int = 1) -> Child:
    """`ports` > 1 spreads the endpoints over that many loopback ports (hosts, to `scan`)."""
    return Child(
        [
            sys.executable,
            "-m",
            "tests.support.many_endpoints",
            "--count",
            str(count),
            "--list",
            str(list_file),
            "--ports",
            str(ports),
        ],
        log,
        "many_endpoints",
    )


def tls_proxy(upstream: str, tls: TlsFiles, log: Path) -> Child:
    return Child(
        [sys.executable, "-m", "benchmarks.tls_proxy", "--upstream", upstream, "--cert", str(tls.cert), "--key", str(tls.key)],
        log,
        "tls_proxy",
    )


@contextlib.contextmanager
def file_server(folder: Path, log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(folder), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    origin = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(origin + "/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, "http.server", proc, log)
        yield origin
    finally:
        stop(proc)
