"""Drift between two runs of (usually) the same endpoint: `ehrcheck diff OLD NEW`. Pure.

Three kinds of change: rule statuses, scores (overall and per pack), and the capability fingerprint — what the server says it can do: FHIR version, resource
types and their interactions, operations, declared profiles, SMART capabilities, scopes and grant
types. The fingerprint comes from evidence; a report.json with no evidence beside it is compared
on findings and scores only, and the diff says so.

A rule's change is one of these classes, each with its own exit policy in `ehrcheck diff`:
- regressed: observed both times and worse now (pass -> warn -> fail): the server got worse;
  --fail-on-regression.
- new finding: a failure or warning that the earlier run did not observe (not observed, claimed,
  not applicable, or not a rule yet), e.g. because credentials were added: a first observation,
  not a regression; --fail-on-new.
- improved: observed both times and better now. now observed: open before, passes now.
- no longer observed: observed before, open now (the probe could not run this time).
- changed: between open states; added / removed: the rule passes (or stays open) in only one run.
Scores are printed rounded as the reports print them; JSON keeps them exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ehrcheck.models import Evidence, Finding, PackScore, RunResult, Status

# Observed statuses, better to worse; a move to a later one is a regression.
OBSERVED_RANK = {Status.passed: 0, Status.warn: 1, Status.fail: 2}
FAILING = (Status.warn, Status.fail)
# Each class as a person reads it, in the order the diff lists them.
DIRECTION_LABEL = {
    "regressed": "Regressed",
    "new_finding": "New finding",
    "improved": "Improved",
    "now_observed": "Now observed",
    "no_longer_observed": "No longer observed",
    "changed": "Changed",
    "added": "Added",
    "removed": "Removed",
}


@dataclass(frozen=True)
class StatusChange:
    rule_id: str
    title: str
    severity: str
    old: str | None  # None: the rule was not in the old run
    new: str | None
    direction: str  # a DIRECTION_LABEL key
    message: str = ""


@dataclass(frozen=True)
class ScoreDelta:
    name: str
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return round(self.new - self.old, 1)


@dataclass(frozen=True)
class SetChange:
    facet: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class RunDiff:
    old_name: str
    new_name: str
    old_when: str
    new_when: str
    verdict: tuple[str, str] | None  # (old label, new label) when it changed
    scores: tuple[ScoreDelta, ...]
    statuses: tuple[StatusChange, ...]
    fingerprint: tuple[SetChange, ...]
    fingerprint_note: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def regressions(self) -> tuple[StatusChange, ...]:
        return tuple(s for s in self.statuses if s.direction == "regressed")

    @property
    def new_findings(self) -> tuple[StatusChange, ...]:
        return tuple(s for s in self.statuses if s.direction == "new_finding")

    @property
    def unchanged(self) -> bool:
        return (
            self.verdict is None
            and not self.statuses
            and not self.fingerprint
            and all(s.delta in (0, None) and s.old == s.new for s in self.scores)
        )


def fingerprint(evidence: Evidence) -> dict[str, set[str]]:
    """What the server declares, as comparable sets of short strings."""
    out: dict[str, set[str]] = {}
    cap = evidence.probes.get("capability")
    data: dict[str, Any] = cap.data if cap is not None and cap.status.value == "completed" else {}
    if data.get("found") or data.get("fhir_version"):
        out["FHIR version"] = {str(data.get("fhir_version"))} if data.get("fhir_version") else set()
        resources = data.get("resources") or {}
        out["resources"] = set(resources)
        out["interactions"] = {f"{t}.{i}" for t, r in resources.items() for i in (r or {}).get("interactions", [])}
        out["search parameters"] = {f"{t}?{p}" for t, r in resources.items() for p in (r or {}).get("search_params", [])}
        out["operations"] = {f"{t}/${o}" for t, r in resources.items() for o in (r or {}).get("operations", [])} | {
            f"${o}" for o in data.get("system_operations") or []
        }
        out["profiles"] = set(data.get("supported_profiles") or [])
        out["security services"] = set((data.get("security") or {}).get("services") or [])
    smart = evidence.probes.get("smart")
    sdata: dict[str, Any] = smart.data if smart is not None and smart.status.value == "completed" else {}
    if sdata.get("found"):
        doc = sdata.get("document") or {}
        out["SMART capabilities"] = set(sdata.get("capabilities") or [])
        out["SMART scopes"] = {str(s) for s in doc.get("scopes_supported") or []}
        out["SMART grant types"] = {str(s) for s in doc.get("grant_types_supported") or []}
    return out


def _fingerprint_changes(old: Evidence | None, new: Evidence | None) -> tuple[tuple[SetChange, ...], str]:
    if old is None or new is None:
        missing = "the old run" if old is None else "the new run"
        return (
            (),
            f"Capability fingerprint not compared: no evidence for {missing} (pass evidence.json files, or audit folders that hold them).",
        )
    a, b = fingerprint(old), fingerprint(new)
    changes = []
    for facet in dict.fromkeys([*a, *b]):
        before, after = a.get(facet, set()), b.get(facet, set())
        if before != after:
            changes.append(SetChange(facet, tuple(sorted(after - before)), tuple(sorted(before - after))))
    return tuple(changes), ""


def _direction(old: Finding | None, new: Finding | None) -> str:
    if new is None:
        return "removed"
    b = OBSERVED_RANK.get(new.status)
    a = OBSERVED_RANK.get(old.status) if old is not None else None
    if a is None:  # not observed before (or not a rule yet): whatever it is now is a first sighting
        if new.status in FAILING:
            return "new_finding"
        if old is None:
            return "added"
        return "now_observed" if b is not None else "changed"
    if b is None:
        return "no_longer_observed"
    return "improved" if b < a else "regressed"


def diff_runs(
    old: RunResult, new: RunResult, old_evidence: Evidence | None = None, new_evidence: Evidence | None = None
) -> RunDiff:
    olds = {f.rule_id: f for f in old.findings}
    news = {f.rule_id: f for f in new.findings}
    statuses = []
    for rid in sorted(olds.keys() | news.keys()):
        a, b = olds.get(rid), news.get(rid)
        if a is not None and b is not None and a.status == b.status:
            continue
        ref = b or a
        assert ref is not None
        statuses.append(
            StatusChange(
                rule_id=rid,
                title=ref.title,
                severity=ref.severity.value,
                old=a.status.value if a else None,
                new=b.status.value if b else None,
                direction=_direction(a, b),
                message=b.message if b else "",
            )
        )
    order = {d: i for i, d in enumerate(DIRECTION_LABEL)}
    statuses.sort(key=lambda s: (order[s.direction], s.rule_id))

    def packs(r: RunResult) -> dict[str, PackScore]:
        return {p.pack: p for p in r.packs}

    po, pn = packs(old), packs(new)
    titles = {p.pack: p.title for p in [*old.packs, *new.packs]}
    scores = [ScoreDelta("Overall", old.overall.score, new.overall.score)] + [
        ScoreDelta(titles[k], po[k].score if k in po else None, pn[k].score if k in pn else None)
        for k in dict.fromkeys([*po, *pn])
    ]
    changes, note = _fingerprint_changes(old_evidence, new_evidence)
    notes = []
    if old.target.base_url != new.target.base_url:
        notes.append(f"The runs are of different endpoints: {old.target.base_url} and {new.target.base_url}.")
    if old.as_of != new.as_of:
        notes.append(
            f"The rules were applied as of different dates ({old.as_of} and {new.as_of}); some changes may come from the regulations, not the server."
        )
    if old.profile != new.profile:
        notes.append(f"The runs were scored under different profiles ({old.profile} and {new.profile}).")
    return RunDiff(
        old_name=old.target.label or old.target.base_url,
        new_name=new.target.label or new.target.base_url,
        old_when=old.evidence_finished_at,
        new_when=new.evidence_finished_at,
        verdict=(old.verdict.label, new.verdict.label) if old.verdict.level != new.verdict.level else None,
        scores=tuple(scores),
        statuses=tuple(statuses),
        fingerprint=changes,
        fingerprint_note=note,
        notes=tuple(notes),
    )
