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
        "| target | measured (median) | met |",
        "|---|---|:---:|",
    ]
    out += [f"| {t.name} | {t.measured} | {'yes' if t.met else '**no**'} |" for t in targets]
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
