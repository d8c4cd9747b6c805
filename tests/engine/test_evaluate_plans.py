"""Rule evaluation keeps per-rule facts (claim paths, applies_if sources) and the findings that
hold nothing of the endpoint from one evaluation to the next (issue 19: a scan evaluates every
rule for every endpoint). What is kept must never leak between endpoints or between rules."""

from __future__ import annotations

import datetime as dt

from ehrcheck.engine.evaluate import evaluate
from ehrcheck.models import Status
from ehrcheck.rules.schema import OpCheck, builtin_packs, find_rule
from tests.support.evidence import evidence, failed_attempt

AS_OF = dt.date(2026, 6, 1)


def _all_rules():
    return [rule for pack in builtin_packs() for rule in pack.rules]


def test_each_endpoint_gets_its_own_reasons_for_what_was_not_observed():
    rules = _all_rules()
    first = evaluate(evidence({"capability": failed_attempt("connection refused")}), rules, AS_OF)
    second = evaluate(evidence({"capability": failed_attempt("the server answered 500")}), rules, AS_OF)
    firsts = [f for f in first if f.status == Status.not_observed and "capability probe" in f.message]
    seconds = [f for f in second if f.status == Status.not_observed and "capability probe" in f.message]
    assert firsts and len(firsts) == len(seconds)
    assert all("connection refused" in f.message for f in firsts)
    assert all("500" in f.message and "connection refused" not in f.message for f in seconds)


def test_evaluating_again_gives_the_same_findings_as_the_first_time():
    rules = _all_rules()
    ev = evidence({"capability": {"found": True, "fhir_version": "4.0.1"}})
    once = [f.model_dump() for f in evaluate(ev, rules, AS_OF)]
    evaluate(evidence({"capability": failed_attempt()}), rules, AS_OF)  # another endpoint between
    assert [f.model_dump() for f in evaluate(ev, rules, AS_OF)] == once


def test_a_changed_copy_of_a_rule_is_judged_by_its_own_fields():
    rule = next(r for r in _all_rules() if r.applies_if is None)
    ev = evidence({p: {"found": True} for p in rule.needs if p != "claims"})
    before = evaluate(ev, [rule], AS_OF)[0]
    assert before.status != Status.not_applicable
    never = OpCheck(path=f"{rule.needs[0]}.no_such_field", op="equals", value="never")
    copy = rule.model_copy(update={"applies_if": never})
    assert evaluate(ev, [copy], AS_OF)[0].status == Status.not_applicable
    assert evaluate(ev, [rule], AS_OF)[0] == before


def test_findings_out_of_force_name_the_date_they_were_judged_on():
    rule = find_rule("INT-041") or _all_rules()[0]
    later = rule.model_copy(update={"effective": dt.date(2027, 1, 1)})
    a = evaluate(evidence(), [later], dt.date(2026, 1, 1))[0]
    b = evaluate(evidence(), [later], dt.date(2026, 2, 1))[0]
    assert a.status == b.status == Status.not_applicable
    assert "2026-01-01" in a.message and "2026-02-01" in b.message
