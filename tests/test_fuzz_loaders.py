"""Every loader of user-supplied files, fed noise, random JSON/YAML and near-misses of real files:
it returns a value or raises one clean UserInputError that names the file, never anything else.

Evidence that loads must also score and render in every format (a tampered evidence file must
not crash `ehrcheck score`), and credentials errors must never quote a secret.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given

from typer.testing import CliRunner

from ehrcheck.cli import app
from ehrcheck.credentials import load_credentials
from ehrcheck.custom_packs import load_custom_pack
from ehrcheck.files import UserInputError, load_claims, load_evidence
from ehrcheck.models import Evidence
from ehrcheck.render import RENDERERS
from ehrcheck.runs import load_run
from ehrcheck.scorecard import score_evidence
from ehrcheck.waivers import load_waivers
from tests.faults.fuzzing import FUZZ, file_contents, json_values
from tests.faults.samples import sample_evidence

ROOT = Path(__file__).resolve().parents[1]
SECRET = "PLANTED-fuzz-secret-991"

SAMPLES: dict[str, list[Any]] = {
    "evidence": [sample_evidence()],
    "claims": [{"product": {"vendor": "Riverbend Health", "product": "Riverbend EHR", "version": "4.2", "hosting": "cloud"},
                "standards": {"fhir_version": "4.0.1", "smart_app_launch": "2.0.0"},
                "hipaa": {"baa_offered": True, "audit_log_retention_years": 6, "last_risk_analysis": "2025-11-01"}}],
    "pack": [
        {**yaml.safe_load((ROOT / "ehrcheck/rules/portal.yaml").read_text()), "pack": "acme"},
    ],
    "waivers": [{"waivers": [{"rule": "INT-001", "target": "https://ehr.example/fhir", "reason": "vendor fix due",
                              "expires": "2026-12-31"}]}],
    "credentials": [{"client_id": "ehrcheck-client", "auth_method": "client_secret_basic", "client_secret": SECRET}],
}
SAMPLES["run"] = [sample_evidence(), json.loads(RENDERERS["json"].fn(score_evidence(Evidence.model_validate(sample_evidence()))))]


def _score_via_cli(path: Path) -> None:
    """`ehrcheck score FILE` in every format: reports, or one clean error and no report at all."""
    out = path.parent / "reports"
    res = CliRunner().invoke(app, ["score", str(path), "-o", str(out), "-f", ",".join(RENDERERS), "-q"])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    if res.exit_code == 2:
        assert path.name in res.output
        assert not out.exists() or not any(out.iterdir()), "a failed score left report files behind"
    else:
        assert res.exit_code in (0, 1), res.output
        assert sorted(p.suffix for p in out.iterdir()) == sorted(f".{r.extension}" for r in RENDERERS.values())


LOADERS: dict[str, Callable[[Path], Any]] = {
    "evidence": load_evidence,
    "claims": load_claims,
    "pack": load_custom_pack,
    "waivers": load_waivers,
    "credentials": lambda p: load_credentials(p, environ={}),
    "run": load_run,
}


def _load(kind: str, content: bytes, suffix: str, then: Callable[[Path], None] | None = None) -> tuple[Any, Path]:
    """Load `content` as `kind`; `then(path)` runs on the file while it still exists."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(content)
        try:
            value = LOADERS[kind](path)
        except UserInputError as exc:
            message = str(exc)
            assert path.name in message, f"{kind}: the message does not name the file: {message}"
            assert "Traceback" not in message
            assert SECRET not in message, f"{kind}: an error message quoted a secret: {message}"
            return exc, path
        if then is not None:
            then(path)
        return value, path


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_loader_gives_a_value_or_a_clean_error(kind):
    samples = SAMPLES[kind]
    suffix = ".json" if kind in ("evidence", "run") else ".yaml"

    @FUZZ
    @given(file_contents(*samples))
    def check(content: bytes) -> None:
        _load(kind, content, suffix, then=_score_via_cli if kind == "evidence" else None)

    check()


@pytest.mark.timeout(300)
def test_tampered_evidence_that_loads_always_scores_and_renders():
    from tests.faults.fuzzing import tampered

    @FUZZ
    @given(tampered(sample_evidence()))
    def check(doc: Any) -> None:
        _load("evidence", json.dumps(doc).encode(), ".json", then=_score_via_cli)

    check()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", sorted(LOADERS))
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     + b"".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n".encode()
                                for p, c in zip("bcdefgh", "cdefghi")), id="yaml alias bomb"),
        pytest.param(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", id="deep yaml"),
        pytest.param(b'{"schema": "ehrcheck.evidence", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="deep json"),
        pytest.param(b"\xff\xfe\x00\x00not text", id="not utf-8"),
    ],
)
def test_hostile_file_is_refused_cleanly(kind, content):
    value, path = _load(kind, content, ".json" if kind in ("evidence", "run") else ".yaml")
    assert isinstance(value, UserInputError), f"{kind} accepted {content[:40]!r}"


@pytest.mark.timeout(300)
@given(json_values)
@FUZZ
def test_any_claims_value_in_evidence_scores_or_is_refused_cleanly(value):
    # Evidence keeps the claims as given: whatever a hand edit puts there must not crash `score`.
    doc = sample_evidence() | {"claims": {"product": {"vendor": value}, "hipaa": value}}
    _load("evidence", json.dumps(doc).encode(), ".json", then=_score_via_cli)
