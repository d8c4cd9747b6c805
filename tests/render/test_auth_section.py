"""The authenticated section renders whatever mix of its probes ran: a token endpoint that was
refused (plain http under an https base) leaves the US Core probe errored, and the HTML report must
still be written (an attack-round case: the must-support list sat in the token branch)."""

from __future__ import annotations

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.render import RENDERERS
from tests.support.evidence import evidence, failed_attempt


def test_token_refused_and_uscore_errored_still_renders_every_format():
    ev = evidence(
        {
            "token": {
                "token_endpoint": {
                    "url": "http://auth.vendor.example/token",
                    "source": "smart-configuration",
                    "https": False,
                    "refused": "refused: the token endpoint http://auth.vendor.example is plain http under an https FHIR base",
                }
            },
            "uscore": failed_attempt("no access token: the token endpoint was refused"),
            "bulk": failed_attempt("no access token: the token endpoint was refused"),
        }
    )
    result = score_evidence(ev)
    html = RENDERERS["html"].fn(result)
    assert "Behind the token" in html
    assert "Must-support elements never seen" not in html
    for fmt in ("md", "json", "junit", "sarif"):
        assert RENDERERS[fmt].fn(result)
