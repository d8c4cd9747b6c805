"""`--ca-bundle` is checked by reading the file alone, not the system's CA store besides it."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from ehrcheck.cli.common import check_ca_bundle
from ehrcheck.errors import UserInputError


@pytest.fixture
def no_system_store(monkeypatch):
    """Loading the system's store (~20 ms of CPU) would fail the test."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the system CA store was loaded")

    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", refuse)
    monkeypatch.setattr(ssl.SSLContext, "set_default_verify_paths", refuse)


def test_a_ca_bundle_is_accepted_without_the_system_store(tmp_path: Path, no_system_store):
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    check_ca_bundle(bundle)


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"not a certificate\n", "NO_CERTIFICATE_OR_CRL_FOUND"), (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "PEM lib")],
)
def test_a_file_that_is_not_pem_certificates_is_refused(tmp_path: Path, no_system_store, content: bytes, why: str):
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(content)
    with pytest.raises(UserInputError, match=f"--ca-bundle {bundle}: not a PEM file of CA certificates") as err:
        check_ca_bundle(bundle)
    assert why in str(err.value)


def test_a_private_key_is_not_a_ca_bundle(tmp_path: Path, no_system_store):
    bundle = tmp_path / "key.pem"
    trustme.CA().private_key_pem.write_to_path(str(bundle))
    with pytest.raises(UserInputError, match="not a PEM file of CA certificates"):
        check_ca_bundle(bundle)
