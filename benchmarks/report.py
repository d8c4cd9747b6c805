"""The results as Markdown, and writing them into docs/benchmarks.md between two markers so the
hand-written analysis around them survives every run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .measure import Samples

BEGIN = "<!-- benchmarks/run: results begin (generated; edit outside these markers) -->"
END = "<!-- benchmarks/run: results end -->"


@dataclass
class Row:
    section: str
    what: str
    samples: Samples
    unit: str
    notes: str


@dataclass
class Target:
    name: str
    measured: str
    met: bool
    key: str  # which workload to profile when missed


@dataclass(frozen=True)
class Goal:
    key: str  # the Target.key that measures it
    figure: str
    before: str
    target: str


# Issue 19's targets table, its six rows in its order and words: the table `benchmarks/run` prints
# first. A row no step of the run measured says so ("not measured"), never passes.
GOALS = (
    Goal(
        "peer-one",
        "one endpoint, one CLI run each, wall ratio ehrcheck / fhir-scorecard",
        "4.6× (5.2× under load)",
        "≤ 1.5×, with all default reports written",
    ),
    Goal(
        "peer-batch",
        "per endpoint over a list, ehrcheck scan / fhir-scorecard --registry",
        "3.25× (3.7× under load)",
        "≤ 1.0×",
    ),
    Goal(
        "scan",
        "scan throughput, 1,000 loopback endpoints",
        "99 endpoints/s (52/s under load at 200)",
        "≥ 300 endpoints/s, RSS ≤ 300 MB",
    ),
    Goal("help", "`ehrcheck --help`", "0.16 s", "≤ 0.10 s"),
    Goal("score", "`ehrcheck score FILE -o - --format json`", "0.32 s", "≤ 0.15 s"),
    Goal("checks", "checks per endpoint vs the peer", "9.7× evaluated", "keep ≥ 5× decided (now 3.5×)"),
)
GOAL_KEYS = {g.key for g in GOALS}


def goals_table(targets: list[Target]) -> list[str]:
    """The issue's table with what this run measured; a goal measured by several targets is met
    when all of them are."""
    out = ["| figure | before (issue 19) | target | measured (median) | met |", "|---|---|---|---|:---:|"]
    for goal in GOALS:
        mine = [t for t in targets if t.key == goal.key]
        measured = "; ".join(t.measured for t in mine) or "not measured"
        met = "yes" if mine and all(t.met for t in mine) else "**no**"
        out.append(f"| {goal.figure} | {goal.before} | {goal.target} | {measured} | {met} |")
    return out


def number(value: float, unit: str) -> str:
    if unit in ("s", "×"):
        return f"{value:.2f}"
    if unit == "ms":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def cell(samples: Samples, unit: str) -> tuple[str, str]:
    median = f"{number(samples.median, unit)} {unit}"
    if len(samples) < 2:
        return median, "–"
    return median, f"{number(samples.low, unit)} – {number(samples.high, unit)} (n={len(samples)})"


def render(rows: list[Row], targets: list[Target], profiles: dict[str, str], context: dict) -> str:
    m = context["machine"]
    out = [
        BEGIN,
        "",
        f"Measured {context['date']} by `benchmarks/run` ({context['plan']} plan, {context['elapsed']}).",
        "",
        f"- **Machine:** {m['cores']} cores, {m['cpu']}, {m['memory']} memory, {m['os']}",
        f"- **Python:** {m['python']} (ehrcheck's venv); fhir-scorecard 0.3.0 in its own 3.12 venv",
        (
            f"- **Load:** {context['load']}. Other jobs on the machine raise wall times far more than CPU "
            "times: a wall time well above its CPU time means the run was contended."
        ),
        "",
        "### Targets",
        "",
        *goals_table(targets),
        "",
        "Other targets (earlier issues):",
        "",
        "| target | measured (median) | met |",
        "|---|---|:---:|",
    ]
    out += [f"| {t.name} | {t.measured} | {'yes' if t.met else '**no**'} |" for t in targets if t.key not in GOAL_KEYS]
    out += ["", "### Measurements", "", "| | what | median | spread (min – max, runs) | notes |", "|---|---|---:|---|---|"]
    for r in rows:
        median, spread = cell(r.samples, r.unit)
        out.append(f"| {r.section} | {r.what} | {median} | {spread} | {r.notes} |")
    if profiles:
        out += [
            "",
            "### Profiles",
            "",
            "Made by this run for the targets it missed (or every workload with `--profile-all`).",
            "",
        ]
        for key, text in profiles.items():
            out += [f"#### {key}", "", text, ""]
    out += ["", END]
    return "\n".join(out)


def write_between_markers(doc: Path, block: str) -> None:
    """Replace what lies between the markers; with no markers yet, append the block."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head = text[: text.index(BEGIN)]
        tail = text[text.index(END) + len(END) :]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = doc.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(doc)
