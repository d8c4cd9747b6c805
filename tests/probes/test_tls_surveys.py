"""TlsSurveys (probes/tls_surveys.py): one survey per key while fresh, shared by concurrent askers;
a failed survey is never handed to another audit; every asker gets its own copy."""

from __future__ import annotations

import asyncio

import pytest

from ehrcheck.probes.tls_surveys import TlsSurveys


class Survey:
    """Stands in for the blocking handshakes (their own tests are in anonymous/test_transport.py)."""

    def __init__(self, fail: bool = False):
        self.runs = 0
        self.fail = fail

    async def __call__(self) -> dict:
        self.runs += 1
        await asyncio.sleep(0.01)  # long enough for the other askers to arrive meanwhile
        if self.fail:
            raise OSError("connection reset during the handshake")
        return {"verified": True, "legacy": {"TLSv1.0": "rejected"}, "run": self.runs}


def test_concurrent_and_later_askers_share_one_survey_each_with_its_own_copy():
    async def go():
        surveys, survey = TlsSurveys(), Survey()
        first = await asyncio.gather(*(surveys.survey(("h", 443), survey) for _ in range(5)))
        later = await surveys.survey(("h", 443), survey)
        other = await surveys.survey(("other", 443), survey)
        return survey.runs, first, later, other

    runs, first, later, other = asyncio.run(go())
    assert runs == 2  # one for h:443, one for other:443
    assert all(r == {"verified": True, "legacy": {"TLSv1.0": "rejected"}, "run": 1} for r in [*first, later])
    assert other["run"] == 2
    first[0]["legacy"]["TLSv1.0"] = "changed"  # one audit's copy is not another's
    assert first[1]["legacy"]["TLSv1.0"] == "rejected" and later["legacy"]["TLSv1.0"] == "rejected"


def test_a_failed_survey_is_not_shared_and_not_kept():
    async def go():
        surveys, failing = TlsSurveys(), Survey(fail=True)
        results = await asyncio.gather(*(surveys.survey(("h", 443), failing) for _ in range(3)), return_exceptions=True)
        return failing.runs, results, await surveys.survey(("h", 443), Survey())

    runs, results, after = asyncio.run(go())
    assert runs == 3  # each waiter surveyed for itself once the shared one failed
    assert all(isinstance(r, OSError) for r in results)
    assert after["verified"] is True  # the failure was not kept either


def test_a_survey_answers_only_while_fresh_and_few_are_kept():
    async def go(surveys: TlsSurveys, keys: list[str]) -> int:
        survey = Survey()
        for key in keys:
            await surveys.survey(key, survey)
        return survey.runs

    assert asyncio.run(go(TlsSurveys(seconds=0.0), ["h", "h"])) == 2  # expired at once
    assert asyncio.run(go(TlsSurveys(max_surveys=1), ["h", "g", "h"])) == 3  # h was dropped for g
    assert asyncio.run(go(TlsSurveys(max_surveys=2), ["h", "g", "h"])) == 2


def test_a_cancelled_survey_leaves_nothing_behind():
    """An audit cancelled mid-survey (Ctrl-C, early stop, its budget) must not leave a survey
    that never ends for the host's later audits to wait on."""

    async def go():
        surveys = TlsSurveys()
        task = asyncio.create_task(surveys.survey("h", Survey()))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        survey = Survey()
        result = await surveys.survey("h", survey)
        return survey.runs, result

    runs, result = asyncio.run(go())
    assert runs == 1 and result["verified"] is True
