"""The JSON report: the whole RunResult, as the documented JSON it validates against."""

from __future__ import annotations

import json

from ehrcheck.inert import json_text
from ehrcheck.models import RunResult


def render_json(result: RunResult) -> str:
    return json_text(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False)) + "\n"
