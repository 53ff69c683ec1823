"""Rules in mode "propose" (contract v3): a pending proposal blocks its rule, its
cooldown runs from the last fire or proposal, and proposal keys never collide."""

from __future__ import annotations

from tests.unit.test_rules import at, decide, rule
from warroom.core.reports.rules import RuleState, fire_key, proposal_key, rule_state

SLUMP = [100] * 6 + [10] * 4  # low from minute 6 on


def test_a_slump_fires_when_nothing_pends() -> None:
    assert decide(rule(cooldown_minutes=0), SLUMP, 10).fire


def test_a_pending_proposal_blocks_its_rule_whatever_the_cooldown() -> None:
    d = decide(rule(cooldown_minutes=0), SLUMP, 10, RuleState(0, at(8), pending=True))
    assert (d.fire, d.reason, d.fire_index) == (False, "pending", 1)
    assert rule_state(d) == "armed"  # waiting for an operator, not done


def test_max_fires_and_budget_come_before_pending() -> None:
    r = rule(max_fires=1)
    assert decide(r, SLUMP, 10, RuleState(1, at(2), pending=True)).reason == "max_fires"
    assert decide(rule(), SLUMP, 10, RuleState(0, None, pending=True), budget=5).reason == "budget"


def test_a_dismissed_proposal_anchors_the_cooldown_and_the_next_sustain() -> None:
    r = rule(cooldown_minutes=1, sustain_minutes=2)
    # proposed (then dismissed) at minute 8.5: not pending, cooldown over by minute 10
    d = decide(r, SLUMP, 10, RuleState(0, at(8.5)))
    assert (d.fire, d.reason) == (False, "sustaining")  # only minute 9 is after it
    assert decide(r, SLUMP + [10], 11, RuleState(0, at(8.5))).fire  # minutes 9 and 10


def test_proposal_keys_are_fresh_per_attempt_and_never_a_fire_key() -> None:
    keys = {proposal_key("午后:回暖", 1, a) for a in (1, 2, 3)}
    assert len(keys) == 3 and fire_key("午后:回暖", 1) not in keys
    assert proposal_key("r", 2, 1) != proposal_key("r", 1, 2)
