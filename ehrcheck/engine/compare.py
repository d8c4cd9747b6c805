"""Vendors side by side: several run results -> one comparison model. Pure; renderers format it.

Columns are the vendors, ranked under the chosen practice profile: the verdict first (a
certified-ready EHR outranks an interoperable one, then an EHR with an outdated API, one with a
limited API, a siloed EMR, and last a product unsafe to connect; see verdict.RANK), then the
strength of the evidence (verified, observed, declared), then the overall score re-weighted with
that profile's pack weights, then the name. Rows are the verdict,
the overall and pack scores, the capability matrix and claims contradictions (when the runs carry
them), and every rule's status; a row whose cells differ is flagged so renderers can highlight it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ehrcheck.engine.profiles import get_profile
from ehrcheck.engine.scoring import PROFILES, overall_score
from ehrcheck.engine.verdict import RANK as VERDICT_RANK
from ehrcheck.models import SEVERITY_ORDER, STRENGTH_ORDER, Finding, PackScore, RunResult, VerdictFact
from ehrcheck.render.labels import STATUS_LABEL


@dataclass(frozen=True)
class Cell:
    text: str
    css: str = ""  # a status or verdict level, for the one design system's classes
    note: str = ""


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[Cell, ...]
    key: str = ""
    severity: str = ""

    @property
    def differs(self) -> bool:
        return len({(c.text, c.css) for c in self.cells}) > 1


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[Row, ...]
    note: str = ""

    @property
    def differing(self) -> int:
        return sum(1 for r in self.rows if r.differs)


@dataclass(frozen=True)
class Column:
    rank: int
    name: str
    base_url: str
    verdict_level: str
    verdict_label: str
    verdict_sentence: str
    overall: PackScore
    source: str
    evidence_finished_at: str
    as_of: str
    why: str = ""  # why it ranks where it does: against the vendor ranked just above, from the decisive findings


@dataclass(frozen=True)
class Comparison:
    profile: str
    columns: tuple[Column, ...]
    sections: tuple[Section, ...]
    tool_versions: tuple[str, ...] = field(default_factory=tuple)
    client: str = ""  # the practice the comparison is prepared for (--client)
    profile_title: str = ""
    profile_description: str = ""


def _score_text(p: PackScore | None) -> str:
    if p is None:
        return "—"
    if p.not_judged and p.pack != "overall":
        return p.not_judged
    if p.score is None:
        return f"not scored ({p.low:.0f}–{p.high:.0f})"
    if round(p.low) == round(p.high):
        return f"{p.score:.0f}"
    return f"{p.score:.0f} ({p.low:.0f}–{p.high:.0f})"


def _rank_key(name: str, result: RunResult, overall: PackScore) -> tuple[Any, ...]:
    score = overall.score if overall.score is not None else -1.0
    # Same verdict: verified evidence outranks observed, observed outranks declared only.
    evidence = result.verdict.evidence.strength if result.verdict.evidence and result.verdict.evidence.strength else "unknown"
    return (-VERDICT_RANK.get(result.verdict.level, 0), -STRENGTH_ORDER[evidence], -score, -overall.high, name.lower())


def _finding_cell(f: Finding | None) -> Cell:
    if f is None:
        return Cell("not evaluated", "not_applicable", "this run did not include the rule")
    text = STATUS_LABEL.get(f.status.value, f.status.value)
    if f.waiver is not None:
        text += " (waived)"
    return Cell(text, f.status.value, f.message)


def _rule_sections(results: Sequence[RunResult], pack_titles: dict[str, str]) -> list[Section]:
    by_run = [{f.rule_id: f for f in r.findings} for r in results]
    meta: dict[str, Finding] = {}
    for r in results:
        for f in r.findings:
            meta.setdefault(f.rule_id, f)
    sections = []
    for pack, title in pack_titles.items():
        ids = sorted(
            (rid for rid, f in meta.items() if f.pack == pack), key=lambda rid: (SEVERITY_ORDER[meta[rid].severity], rid)
        )
        rows = tuple(
            Row(
                label=f"{rid} {meta[rid].title}",
                key=rid,
                severity=meta[rid].severity.value,
                cells=tuple(_finding_cell(run.get(rid)) for run in by_run),
            )
            for rid in ids
        )
        if rows:
            sections.append(Section(f"Rules: {title}", rows))
    return sections


def _items(value: Any) -> list[dict[str, Any]]:
    """A list of plain dicts from whatever shape a run carries (models, dicts, a dict of rows)."""
    if value is None:
        return []
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        for key in ("rows", "items", "entries", "claims"):
            if isinstance(value.get(key), list):
                value = value[key]
                break
        else:
            value = [{"key": k, **(v if isinstance(v, dict) else {"status": v})} for k, v in value.items()]
    out = []
    for item in value if isinstance(value, list) else []:
        if hasattr(item, "model_dump"):
            item = item.model_dump(mode="json")
        if isinstance(item, dict):
            out.append(item)
    return out


def _first(item: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = item.get(key)
        if value not in (None, "", [], {}):
            return value if isinstance(value, str) else str(value)
    return ""


def _matrix_section(results: Sequence[RunResult]) -> Section | None:
    """The EMR-vs-EHR capability matrix, when the runs carry one (issue 3 adds it to RunResult)."""
    tables = [_items(getattr(r, "capability_matrix", None) or getattr(r, "matrix", None)) for r in results]
    if not any(tables):
        return None
    labels: dict[str, str] = {}
    cells: list[dict[str, Cell]] = []
    for table in tables:
        row_cells = {}
        for item in table:
            key = _first(item, "key", "id", "capability", "label", "name")
            labels.setdefault(key, _first(item, "label", "capability", "name", "title", "key") or key)
            status = _first(item, "status", "state", "result")
            marks = _first(item, "marks")
            detail = _first(item, "evidence", "observed", "detail", "how", "note")
            text = (status.replace("_", " ") or "—") + (f" ({marks})" if marks and marks != "unknown" else "")
            row_cells[key] = Cell(text, MATRIX_CSS.get(status, ""), detail)
        cells.append(row_cells)
    rows = tuple(Row(label=label, key=key, cells=tuple(c.get(key, Cell("—")) for c in cells)) for key, label in labels.items())
    return Section("Capability matrix (EMR or EHR?)", rows)


CONTRADICTED = ("contradicted", "contradiction", "contradicts")
# Matrix states drawn with the report's status badges (colour is never the only signal: the text says it).
MATRIX_CSS = {
    "verified": "pass",
    "observed": "pass",
    "declared": "unverified",
    "claimed": "unverified",
    "contradicted": "fail",
    "missing": "warn",
    "unknown": "not_observed",
}
CLAIM_WORD = {"verified": "Verified", "unverified": "Claimed, unverified", "falls_short": "Falls short"}
CLAIM_CSS = {"verified": "pass", "unverified": "unverified", "falls_short": "warn"}


def _claims_section(results: Sequence[RunResult]) -> Section | None:
    """Claims the vendor made that its own server contradicts, per vendor (when runs carry claims)."""
    tables = [_items(getattr(r, "claims", None) or getattr(r, "claims_table", None)) for r in results]
    # Findings that judged a claim (Finding.claim, from the claims reconciliation) say so too.
    from_findings = [
        {f.rule_id: f for f in r.findings if getattr(getattr(f, "claim", None), "outcome", None) in CONTRADICTED} for r in results
    ]
    labels: dict[str, str] = {}
    contradicted: set[str] = set()
    cells: list[dict[str, Cell]] = []
    for table, findings in zip(tables, from_findings, strict=True):
        row_cells: dict[str, Cell] = {}
        for item in table:
            status = _first(item, "status", "state", "result").lower()
            key = _first(item, "key", "claim", "field", "id", "label")
            labels.setdefault(key, _first(item, "label", "claim", "field", "title", "key") or key)
            detail = _first(item, "observed", "evidence", "detail", "message")
            if status in CONTRADICTED:
                contradicted.add(key)
                row_cells[key] = Cell("Contradicted", "fail", detail)
            else:  # the same claim's fate at the other vendors, for the side-by-side
                row_cells[key] = Cell(CLAIM_WORD.get(status, status.replace("_", " ") or "—"), CLAIM_CSS.get(status, ""), detail)
        for rid, f in findings.items():
            labels.setdefault(rid, f"{rid} {f.title}")
            contradicted.add(rid)
            row_cells[rid] = Cell("Contradicted", "fail", f.message)
        cells.append(row_cells)
    labels = {k: v for k, v in labels.items() if k in contradicted}
    if not labels:
        return None
    rows = tuple(
        Row(label=label, key=key, cells=tuple(c.get(key, Cell("—")) for c in cells)) for key, label in sorted(labels.items())
    )
    return Section("Claims contradicted by the server", rows, "A vendor's claim that its own server's answers contradict.")


DECISIVE = 3  # findings named in a "why it ranks here" paragraph
STRENGTH_WORD = {"verified": "verified", "observed": "observed", "declared": "declared only", "claimed": "claimed only"}


def _strength(result: RunResult) -> str:
    answer = result.verdict.evidence
    return answer.strength if answer is not None and answer.strength else "unknown"


def _listing(findings: Sequence[Finding]) -> str:
    return "; ".join(f"{f.rule_id} {f.title} ({f.severity.value})" for f in findings)


def _problems(result: RunResult) -> list[VerdictFact]:
    """The facts behind a verdict that are problems (failed or open findings), blockers first."""
    return [r for r in result.verdict.reasons if r.status.value != "pass"]


def _why(name: str, result: RunResult, overall: PackScore, above: tuple[str, RunResult, PackScore] | None, profile: str) -> str:
    """Why a vendor ranks where it does, in the words of its decisive findings: against the vendor
    just above it, the first thing that separates them (verdict, evidence strength, score)."""
    label = result.verdict.label
    if above is None:
        strength = STRENGTH_WORD.get(_strength(result), "none")
        score = "–" if overall.score is None else f"{overall.score:.0f}"
        return f"{label}, on {strength} evidence, overall {score} under the {profile} profile: no other product ranks above it."
    a_name, a_result, a_overall = above
    if a_result.verdict.level != result.verdict.level:
        facts = _problems(result)[:DECISIVE]
        because = "; ".join(f"{f.text[:1].lower()}{f.text[1:].rstrip('.')} ({f.rule_id})" for f in facts)
        text = f"{a_name} ranks above: its verdict is {a_result.verdict.label}, this one's {label}"
        return text + (f", because {because}." if because else ".")
    sa, sb = _strength(a_result), _strength(result)
    if STRENGTH_ORDER[sa] != STRENGTH_ORDER[sb]:
        return (
            f"Both are {label}; {a_name} ranks above on stronger evidence: {STRENGTH_WORD.get(sa, sa)} "
            f"against {STRENGTH_WORD.get(sb, sb)}."
        )
    theirs = {f.rule_id: f for f in a_result.findings}
    decisive = sorted(
        (
            f
            for f in result.findings
            if f.status.value in ("fail", "warn")
            and theirs.get(f.rule_id) is not None
            and theirs[f.rule_id].status.value == "pass"
        ),
        key=lambda f: (SEVERITY_ORDER[f.severity], -f.weight, f.rule_id),
    )[:DECISIVE]
    a_score = "–" if a_overall.score is None else f"{a_overall.score:.0f}"
    b_score = "–" if overall.score is None else f"{overall.score:.0f}"
    if a_score == b_score and not decisive:
        return f"Tied with {a_name} on verdict, evidence and score ({b_score}); listed by name."
    text = f"Both are {label} on {STRENGTH_WORD.get(sb, sb)} evidence; {a_name} scores {a_score} to {b_score} under the {profile} profile"
    return text + (f". Decisive: {a_name} passes what this one does not: {_listing(decisive)}." if decisive else ".")


def compare(
    results: Sequence[RunResult], profile: str = "default", sources: Iterable[str] | None = None, client: str = ""
) -> Comparison:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile '{profile}'; known: {', '.join(PROFILES)}")
    srcs = list(sources) if sources is not None else [r.target.base_url for r in results]
    overall = [overall_score(list(r.packs), profile) for r in results]
    names = [r.target.label or r.target.base_url for r in results]
    order = sorted(range(len(results)), key=lambda i: _rank_key(names[i], results[i], overall[i]))
    ranked = [results[i] for i in order]
    columns = tuple(
        Column(
            rank=n + 1,
            name=names[i],
            base_url=results[i].target.base_url,
            verdict_level=results[i].verdict.level,
            verdict_label=results[i].verdict.label,
            verdict_sentence=results[i].verdict.sentence,
            overall=overall[i],
            source=srcs[i],
            evidence_finished_at=results[i].evidence_finished_at,
            as_of=results[i].as_of,
            why=_why(
                names[i],
                results[i],
                overall[i],
                (names[order[n - 1]], results[order[n - 1]], overall[order[n - 1]]) if n else None,
                profile,
            ),
        )
        for n, i in enumerate(order)
    )
    pack_titles: dict[str, str] = {}
    for r in ranked:
        for p in r.packs:
            pack_titles.setdefault(p.pack, p.title)
    packs_by_run = [{p.pack: p for p in r.packs} for r in ranked]
    summary = [
        Row("Verdict", tuple(Cell(c.verdict_label, c.verdict_level, c.verdict_sentence) for c in columns), key="verdict"),
        Row(f"Overall score ({profile} profile)", tuple(Cell(_score_text(c.overall)) for c in columns), key="overall"),
    ] + [
        Row(title, tuple(Cell(_score_text(run.get(pack))) for run in packs_by_run), key=f"pack:{pack}")
        for pack, title in pack_titles.items()
    ]
    sections = [
        Section("Summary", tuple(summary), "Scores are 0–100; a range means some rules could not be observed from outside.")
    ]
    for extra in (_matrix_section(ranked), _claims_section(ranked)):
        if extra is not None:
            sections.append(extra)
    sections += _rule_sections(ranked, pack_titles)
    chosen = get_profile(profile)
    return Comparison(
        profile=profile,
        columns=columns,
        sections=tuple(sections),
        tool_versions=tuple(sorted({r.tool_version for r in ranked})),
        client=client,
        profile_title=chosen.title,
        profile_description=chosen.description,
    )
