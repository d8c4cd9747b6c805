"""Shared fixtures: where the live loopback test servers are.

`scripts/test` starts them (see scripts/servers) and exports the variables read here. Tests
never skip when they are missing: a suite that silently skips its server tests is a green lie.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(
            f"{name} is not set: run the tests with `scripts/test [pytest args]`, which starts the "
            "loopback FHIR servers and exports it (run `scripts/setup` once first).",
            pytrace=False,
        )
    return value


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """The suite's own cache folder (compiled templates, prebuilt packs), never the user's home."""
    saved = os.environ.get("EHRCHECK_CACHE_DIR")
    os.environ["EHRCHECK_CACHE_DIR"] = str(tmp_path_factory.mktemp("ehrcheck-cache"))
    yield
    if saved is None:
        os.environ.pop("EHRCHECK_CACHE_DIR", None)
    else:
        os.environ["EHRCHECK_CACHE_DIR"] = saved


@pytest.fixture(scope="session", autouse=True)
def _scan_in_one_process():
    """`ehrcheck scan` audits in its own process unless a test passes --workers: worker processes
    would not see a test's in-process patches (e.g. `offline`'s DNS, which keeps every lookup on
    loopback), and spawning them costs each short test about a second."""
    saved = os.environ.get("EHRCHECK_WORKERS")
    os.environ["EHRCHECK_WORKERS"] = "1"
    yield
    if saved is None:
        os.environ.pop("EHRCHECK_WORKERS", None)
    else:
        os.environ["EHRCHECK_WORKERS"] = saved


@pytest.fixture(scope="session")
def sekmet_open_url() -> str:
    """FHIR base of the sekmet instance without auth, e.g. http://127.0.0.1:18090/fhir."""
    return _required_env("EHRCHECK_TEST_SEKMET_OPEN").rstrip("/")


@pytest.fixture(scope="session")
def sekmet_auth_url() -> str:
    """FHIR base of the sekmet instance enforcing SMART Backend Services and a static bearer
    token (`static-test-token`), e.g. http://127.0.0.1:18091/fhir."""
    return _required_env("EHRCHECK_TEST_SEKMET_AUTH").rstrip("/")


@pytest.fixture(scope="session")
def sekmet_keys_dir() -> Path:
    """Directory holding the SMART test clients' keys: rsa-k1.pem / ec-p384.pem (private),
    *.jwk.json (public) and clients.json (client ids, secrets, scopes, token endpoint)."""
    path = Path(_required_env("EHRCHECK_TEST_KEYS"))
    if not (path / "clients.json").is_file():
        pytest.fail(f"EHRCHECK_TEST_KEYS={path} has no clients.json: run `scripts/test`.", pytrace=False)
    return path


@pytest.fixture(scope="session")
def authserver_url() -> str:
    """Origin of oidc-provider, the independent OAuth authorization server (scripts/servers starts
    it with sekmet's three test clients), e.g. http://127.0.0.1:18092."""
    return _required_env("EHRCHECK_TEST_AUTHSERVER").rstrip("/")


@pytest.fixture(scope="session")
def tls_ca():
    """A throwaway CA (trustme) for loopback TLS servers."""
    import trustme

    return trustme.CA()


@pytest.fixture(scope="session")
def tls_server_ctx(tls_ca):
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def tls_client_ctx(tls_ca):
    import ssl

    ctx = ssl.create_default_context()
    tls_ca.configure_trust(ctx)
    return ctx


@pytest.fixture(scope="session")
def smart_url() -> str:
    """Origin of the SMART launch stack (tests/authserver/smart.mjs); its FHIR base is + /fhir."""
    return _required_env("EHRCHECK_TEST_SMART").rstrip("/")


@pytest.fixture(scope="session")
def pg_admin_url():
    """The session's PostgreSQL cluster on loopback (tests/support/postgres.py), shared by the
    history tests and the hostile-input tests that record into PostgreSQL."""
    from tests.support.postgres import postgres_cluster

    try:
        cluster = postgres_cluster()
        url = cluster.__enter__()
    except RuntimeError as exc:  # never a skip: a missing server is a broken setup
        pytest.fail(str(exc), pytrace=False)
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)
