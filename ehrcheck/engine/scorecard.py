"""Evidence in, RunResult out: the pure half of an audit (evaluate, score, decide the verdict)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ehrcheck.claims.table import claims_table, vendor_questions
from ehrcheck.engine.auth_summary import auth_summary
from ehrcheck.engine.certification_summary import certification_summary
from ehrcheck.engine.evaluate import evaluate
from ehrcheck.engine.launch_summary import launch_summary
from ehrcheck.engine.matrix import capability_matrix
from ehrcheck.engine.profiles import Profile, get_profile, meaning, summary, weigh
from ehrcheck.engine.scoring import overall_score, score_findings
from ehrcheck.engine.verdict import decide
from ehrcheck.models import Evidence, Finding, RunResult
from ehrcheck.rules.schema import Pack, builtin_packs


def default_as_of(evidence: Evidence) -> dt.date:
    """Rules are judged as of the day the evidence was gathered, so re-scoring is reproducible."""
    try:
        return dt.datetime.fromisoformat(evidence.finished_at.replace("Z", "+00:00")).date()
    except ValueError:
        return dt.date.today()


def score_evidence(
    evidence: Evidence,
    as_of: dt.date | None = None,
    profile: str = "default",
    extra_packs: Sequence[Pack] = (),
    row_only: bool = False,
) -> RunResult:
    """`extra_packs` are custom packs (`--pack FILE`), scored and reported like the built-in ones.

    `row_only` (a scan without --reports): only what a scan row reads is built (findings, pack
    scores, overall score, verdict); the report-only sections (matrix, claims table, practice
    summary, vendor questions, certification, authenticated, launch, probe summary) stay empty.
    Such a result must not be rendered."""
    practice = get_profile(profile)  # ValueError naming the known profiles
    as_of = as_of or default_as_of(evidence)
    packs = (*builtin_packs(), *extra_packs)
    rules = [rule for pack in packs for rule in pack.rules]
    # Findings carry the weight they have under the profile, so reports show what was counted.
    proposed = frozenset(p.pack for p in packs if p.proposed)
    findings = weigh(practice, evaluate(evidence, rules, as_of, proposed))
    pack_scores = [score_findings(p.pack, p.title, [f for f in findings if f.pack == p.pack], p.proposed) for p in packs]
    availability = evidence.probes.get("availability")
    reachable = bool(availability and availability.data.get("reachable"))
    decided = decide(findings, evidence, as_of, reachable)
    decided = decided.model_copy(update={"meaning": meaning(practice, decided, findings)})
    # Without them (row_only) the report-only sections keep RunResult's empty defaults.
    sections: dict[str, Any] = {"probe_summary": {}} if row_only else _report_sections(evidence, findings, practice)
    return RunResult(
        tool_version=evidence.tool_version,
        target=evidence.target,
        as_of=as_of.isoformat(),
        evidence_started_at=evidence.started_at,
        evidence_finished_at=evidence.finished_at,
        profile=practice.name,
        findings=findings,
        packs=pack_scores,
        overall=overall_score(pack_scores, practice.name),
        verdict=decided,
        **sections,
    )


def _report_sections(evidence: Evidence, findings: list[Finding], practice: Profile) -> dict[str, Any]:
    """What only a rendered report reads: the matrix, the claims table, the practice summary and
    the other sections a scan row never shows."""
    return {
        "matrix": capability_matrix(evidence, findings),
        "claims": claims_table(findings),
        "practice": summary(practice, findings),
        "vendor_questions": vendor_questions(findings),
        "certification": certification_summary(evidence, findings),
        "authenticated": auth_summary(evidence),
        "launch": launch_summary(evidence, findings),
        "probe_summary": {
            pid: {
                "status": a.status.value,
                "reason": a.reason,
                "requests": len(a.exchanges),
                # method, URL and status only: timings would make reports differ run to run
                "exchanges": [{"method": ex.method, "url": ex.url, "status": ex.status, "error": ex.error} for ex in a.exchanges],
            }
            for pid, a in evidence.probes.items()
        },
    }
