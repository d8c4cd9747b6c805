"""Reading saved runs for `compare` and `diff`: a report.json, an evidence file, or an audit folder.

- `report.json` (what `--format json` writes) is used as written: the findings the audit got.
  The evidence beside it (`evidence.json` in the same folder, or `<name>.evidence.json`), when
  present and for the same endpoint, supplies the capability fingerprint that `diff` compares.
- An evidence file is scored now, with today's rules plus any `--pack`, exactly as
  `ehrcheck score` would.
- A folder is an audit's output folder: its report.json, else its evidence.json.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ehrcheck.errors import UserInputError
from ehrcheck.files.limits import read_user_json
from ehrcheck.files.store import load_evidence
from ehrcheck.models import EVIDENCE_SCHEMA, Evidence, RunResult
from ehrcheck.rules.schema import Pack


@dataclass(frozen=True)
class LoadedRun:
    path: Path
    result: RunResult
    evidence: Evidence | None

    @property
    def name(self) -> str:
        return self.result.target.label or self.result.target.base_url


def _read_json(path: Path) -> object:
    return read_user_json(path, str(path), "a report.json or evidence.json")


def _result(path: Path, data: dict) -> RunResult:
    try:
        return RunResult.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise UserInputError(
            f"{path}: field '{where}': {first.get('msg')} (is this a report.json from another ehrcheck version? "
            "re-score its evidence with `ehrcheck score`)"
        ) from None


def _sibling_evidence(path: Path, result: RunResult) -> Evidence | None:
    for candidate in (path.with_name(path.stem + ".evidence.json"), path.with_name("evidence.json")):
        if candidate.is_file() and candidate != path:
            try:
                evidence = load_evidence(candidate)
            except UserInputError:
                continue
            if evidence.target.base_url == result.target.base_url:
                return evidence
    return None


def run_files(path: Path) -> list[Path]:
    """Every file `load_run(path)` may read: a folder's report.json and evidence.json, or the file
    and the evidence beside it. An output must not land on one of them (cli/output.check_distinct)."""
    path = Path(path)
    if path.is_dir():
        return [path / "report.json", path / "evidence.json"]
    return [path, path.with_name(path.stem + ".evidence.json"), path.with_name("evidence.json")]


def load_run(path: Path, packs: Sequence[Pack] = (), as_of: dt.date | None = None, profile: str = "default") -> LoadedRun:
    from ehrcheck.engine.scorecard import score_evidence

    path = Path(path)
    if path.is_dir():
        for name in ("report.json", "evidence.json"):
            if (path / name).is_file():
                return load_run(path / name, packs, as_of, profile)
        raise UserInputError(f"{path}: folder holds neither report.json nor evidence.json (run `ehrcheck audit URL -o {path}`)")
    data = _read_json(path)
    if isinstance(data, dict) and data.get("schema") == EVIDENCE_SCHEMA:
        evidence = load_evidence(path)
        try:
            result = score_evidence(evidence, as_of, profile, extra_packs=packs)
        except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:  # edited by hand
            raise UserInputError(
                f"{path}: this evidence cannot be scored ({exc.__class__.__name__}); re-run `ehrcheck probe` to gather it again"
            ) from None
        return LoadedRun(path, result, evidence)
    if isinstance(data, dict) and "findings" in data and "verdict" in data:
        result = _result(path, data)
        return LoadedRun(path, result, _sibling_evidence(path, result))
    raise UserInputError(f"{path}: neither a report.json (written by --format json) nor an ehrcheck evidence file")
