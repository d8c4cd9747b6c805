"""A realistic evidence document built offline, from the same code paths a live audit uses."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ehrcheck.http.client import Response
from ehrcheck.models import Evidence, ProbeAttempt
from ehrcheck.probes.anonymous.capability import summarise
from ehrcheck.probes.anonymous.discovery import SMART_FIELDS, _document_facts
from tests.support import evidence as factory

from .audit import CAP, SMART


def json_response(doc: Any, content_type: str = "application/json", status: int = 200) -> Response:
    """A fully read response, as the fetcher hands it to a probe (no network involved)."""
    return Response(
        status=status,
        headers=httpx.Headers({"content-type": content_type}),
        content=json.dumps(doc).encode(),
        url="https://ehr.example/fhir",
        elapsed_ms=12.0,
    )


def attempt(data: dict[str, Any]) -> ProbeAttempt:
    return factory.attempt(data, duration_ms=10.0)


def evidence_from(capability: dict[str, Any], smart: dict[str, Any], **more: ProbeAttempt) -> Evidence:
    cap = {**summarise(capability), "found": True, "http_status": 200, "content_type": "application/fhir+json"}
    return factory.evidence(
        base_url="https://ehr.example/fhir",
        started_at="2026-03-01T10:00:00Z",
        finished_at="2026-03-01T10:00:02Z",
        tool_version="0.1.0",
        probes={
            "capability": attempt(cap),
            "smart": attempt(_document_facts(json_response(smart), SMART_FIELDS, "smart")),
            "access": attempt(
                {
                    "patient_search": {"http_status": 401, "www_authenticate": True, "returned_patient_data": False},
                    "bulk_export": {"http_status": 401, "started_without_auth": False},
                }
            ),
            "transport": attempt(
                {
                    "scheme": "https",
                    "host": "ehr.example",
                    "tls": {
                        "verified": True,
                        "negotiated_version": "TLSv1.3",
                        "cipher": "TLS_AES_256_GCM_SHA384",
                        "cipher_bits": 256,
                        "certificate": {
                            "issuer": "CA",
                            "not_before": "2026-01-01T00:00:00+00:00",
                            "not_after": "2027-01-01T00:00:00+00:00",
                            "hostname_match": True,
                            "san_dns": ["ehr.example"],
                            "san_ip": [],
                            "self_signed": False,
                        },
                        "legacy": {"TLSv1.0": "rejected", "TLSv1.1": "rejected"},
                    },
                    "hsts": {"header": "max-age=31536000", "max_age": 31536000},
                    "http_redirect": {"status": 301, "redirects_to_https": True},
                }
            ),
            "availability": attempt(
                {
                    "requests": 5,
                    "answered": 5,
                    "failed": 0,
                    "server_errors": 0,
                    "median_ms": 12.0,
                    "max_ms": 20.0,
                    "reachable": True,
                }
            ),
            **more,
        },
    )


def sample_evidence() -> dict[str, Any]:
    return evidence_from(CAP, SMART).to_json_dict()
