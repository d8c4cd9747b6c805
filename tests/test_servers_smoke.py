"""Prove the server fixtures point at live, correctly configured servers (not at the package)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.servers  # every test here talks to the loopback servers scripts/test starts

FHIR_JSON = {"Accept": "application/fhir+json"}


def test_open_server_metadata_is_r4_capability_statement(sekmet_open_url: str) -> None:
    r = httpx.get(f"{sekmet_open_url}/metadata", headers=FHIR_JSON, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"


def test_auth_server_requires_token_and_holds_sample_data(sekmet_auth_url: str, sekmet_keys_dir) -> None:
    url = f"{sekmet_auth_url}/Patient"
    anon = httpx.get(url, params={"_count": 1}, headers=FHIR_JSON, timeout=10)
    assert anon.status_code == 401

    authed = httpx.get(url, params={"_count": 1}, headers={**FHIR_JSON, "Authorization": "Bearer static-test-token"}, timeout=10)
    assert authed.status_code == 200
    bundle = authed.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["total"] >= 10
    assert (sekmet_keys_dir / "rsa-k1.pem").is_file()
