"""The override matcher decides what the rules say, whether its automaton runs or it falls back to regexes."""

from __future__ import annotations

import warnings
from fnmatch import fnmatchcase
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smashconfig.target_modules.overrides import OverrideMatcher, rules_matching_nothing
from smashconfig.target_modules.patterns import AUTOMATON_POSITIONS

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

components = st.sampled_from(["model", "layers", "0", "1", "12", "mlp", "attn", "q", "up", "a.b"])
paths = st.lists(components, min_size=1, max_size=4).map(".".join)
patterns = st.one_of(
    st.lists(st.sampled_from(["*", "?", ".", "model", "layers", "1", "[0-1]", "[!q]", "q", "up", "mlp"]), min_size=1, max_size=5).map("".join),
    paths,
)
rule = st.fixed_dictionaries(
    {"include": st.lists(patterns, min_size=1, max_size=3)},
    optional={"exclude": st.lists(patterns, min_size=1, max_size=2), "bits": st.integers(0, 3), "rank": st.integers(0, 3)},
)


def matches(path: str, pattern_list: List[str]) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return any(fnmatchcase(path, p) or fnmatchcase(path + ".", p) for p in pattern_list)


def reference(rules: List[Dict[str, Any]], path: str) -> Dict[str, Optional[int]]:
    """For each hyperparameter, the number (1-based) of the last rule matching ``path`` that sets it."""
    decided: Dict[str, Optional[int]] = {}
    for number, r in enumerate(rules, 1):
        if matches(path, r["include"]) and not matches(path, r.get("exclude", [])):
            decided.update({k: number for k in r if k not in ("include", "exclude")})
    return decided


def check(rules: List[Dict[str, Any]], listed: List[str]) -> OverrideMatcher:
    matcher = OverrideMatcher(rules)
    for path in listed + listed[::-1]:  # any order, and again from what is remembered
        values = matcher.values(path, {"bits": -1, "rank": -1})
        expected = reference(rules, path)
        assert values.set_by == expected, path
        assert values.params == {"bits": -1, "rank": -1, **{k: rules[n - 1][k] for k, n in expected.items()}}
        assert matcher.matching_rules(path) == tuple(
            r for r, x in enumerate(rules) if matches(path, x["include"]) and not matches(path, x.get("exclude", []))
        )
    hit = {r for path in listed for r in matcher.matching_rules(path)}
    assert rules_matching_nothing(matcher, listed) == [r for r in range(len(rules)) if r not in hit]
    return matcher


@FAST
@given(st.lists(rule, min_size=1, max_size=6), st.lists(paths, min_size=1, max_size=12))
def test_each_value_is_set_by_the_last_matching_rule(rules, listed):
    check(rules, listed)


@FAST
@given(st.lists(rule, min_size=1, max_size=4), st.lists(paths, min_size=1, max_size=8))
def test_without_the_automaton_the_decisions_are_the_same(rules, listed):
    # a rule long enough that no automaton is built for the rules: the matcher decides path by path
    too_long = {"include": ["*" + "x?" * (AUTOMATON_POSITIONS // 2)], "bits": 3}
    matcher = check(rules + [too_long], listed)
    assert matcher.rules_matching_any(listed) is None


def test_modules_in_one_state_share_one_decision():
    rules = [{"include": ["*.q"], "bits": 4}, {"include": ["model.layers.1.*"], "exclude": ["*.up"], "bits": 8}]
    matcher = OverrideMatcher(rules)
    listed = [f"model.layers.{i}.{leaf}" for i in range(200) for leaf in ("q", "up")]
    values = [matcher.values(path, {"bits": 0}) for path in listed]
    assert len({id(v) for v in values}) == 3
    assert [v.params["bits"] for v in values[:6]] == [4, 0, 8, 0, 4, 0]
    assert values[0].set_by == {"bits": 1} and values[2].set_by == {"bits": 2} and values[3].set_by == {}
    assert values[0] is values[4] and values[1] is values[3] is values[5]


@pytest.mark.parametrize("steps", [1, 8, 40])
def test_an_automaton_that_grows_too_large_midway_hands_over_to_path_by_path_matching(monkeypatch, steps):
    import smashconfig.target_modules.automaton as automaton

    monkeypatch.setattr(automaton, "MAX_STEPS", steps)
    rules = [
        {"include": ["*.q", "model.layers.1*"], "bits": 4},
        {"include": ["*"], "exclude": ["*.up", "*[0-9]"], "rank": 2},
        {"include": ["model.layers.12.*"], "bits": 8},
    ]
    listed = [f"model.layers.{i}.{leaf}" for i in (0, 1, 12, 3) for leaf in ("q", "up", "mlp")] + ["model", "model.layers"]
    check(rules, listed)
