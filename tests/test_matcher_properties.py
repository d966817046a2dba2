from __future__ import annotations

import re
import warnings
from fnmatch import fnmatchcase
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from torch import nn

from smashconfig.errors import NoTargetsError, TargetPatternWarning
from smashconfig.target_modules import expand_list_of_targeted_paths
from smashconfig.target_modules.automaton import GlobAutomaton
from smashconfig.target_modules.glob import glob_to_regex, literal_text, required_literal
from smashconfig.target_modules.patterns import Matcher, PatternSet
from smashconfig.target_modules.sieve import PatternGroup
from smashconfig.target_modules.sieve import matched_by_text

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAME_CHARS = "aAb01_"
PATTERN_CHARS = "*?[]!-.aAb01_"

names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=3)
shapes = st.recursive(
    st.none(),
    lambda children: st.dictionaries(names, children, min_size=1, max_size=3),
    max_leaves=12,
)
pattern_tokens = st.one_of(
    st.sampled_from(["*", "?", ".", "[", "]", "!", "-"]),
    names,
    st.builds(
        lambda negate, body: "[" + ("!" if negate else "") + body + "]",
        st.booleans(),
        st.text(alphabet="]-aAb01_", min_size=1, max_size=3),
    ),
)
patterns = st.one_of(
    st.text(alphabet=PATTERN_CHARS, min_size=1, max_size=8),
    st.lists(pattern_tokens, min_size=1, max_size=5).map("".join),
)
subjects = st.text(alphabet=PATTERN_CHARS + "c", max_size=10)


def fnmatch_quiet(path: str, pattern: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return fnmatchcase(path, pattern)


def reference_hit(patterns_: List[str], path: str) -> bool:
    return any(fnmatch_quiet(path, p) or fnmatch_quiet(path + ".", p) for p in patterns_)


def every_path(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """Every (path, module) pair, a shared module once per path it is reachable at (the models are acyclic)."""
    out = []

    def walk(module: nn.Module, prefix: str) -> None:
        for name, child in module._modules.items():
            if child is not None:
                out.append((prefix + name, child))
                walk(child, prefix + name + ".")

    walk(model, "")
    return out


def reference_targets(include: List[str], exclude: List[str], model: nn.Module) -> List[str]:
    """A module is targeted when any of its paths is; it is listed at its named_modules() path."""
    targeted_modules = {
        id(module) for path, module in every_path(model) if reference_hit(include, path) and not reference_hit(exclude, path)
    }
    return [name for name, module in model.named_modules() if name and id(module) in targeted_modules]


def build(shape: Optional[Dict], leaves: List[nn.Module]) -> nn.Module:
    if shape is None:
        leaf = nn.Identity()
        leaves.append(leaf)
        return leaf
    module = nn.Module()
    for name, child in shape.items():
        module.add_module(name, build(child, leaves))
    return module


@st.composite
def models(draw) -> nn.Module:
    shape = draw(st.dictionaries(names, shapes, min_size=1, max_size=4))
    leaves: List[nn.Module] = []
    root = build(shape, leaves)
    containers = [m for m in root.modules() if m._modules]
    shares = draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), names), max_size=3))
    for leaf_index, parent_index, name in shares:
        parent = containers[parent_index % len(containers)]
        if name not in parent._modules:
            parent.add_module(name, leaves[leaf_index % len(leaves)])
    return root


target_modules_values = st.fixed_dictionaries(
    {},
    optional={
        "include": st.lists(patterns, min_size=1, max_size=3),
        "exclude": st.lists(patterns, max_size=3),
    },
)


def normal(target_modules: Dict[str, List[str]]) -> Tuple[List[str], List[str]]:
    return target_modules.get("include", ["*"]), target_modules.get("exclude", [])


def reference_first(pattern_list: List[str], path: str) -> Optional[int]:
    return next((i for i, p in enumerate(pattern_list) if reference_hit([p], path)), None)


@FAST
@given(pattern=patterns, subject=subjects)
def test_glob_to_regex_agrees_with_fnmatchcase(pattern, subject):
    ours = re.fullmatch(glob_to_regex(pattern), subject, re.DOTALL) is not None
    assert ours == fnmatch_quiet(subject, pattern)


@FAST
@given(pattern=patterns, subject=st.text(alphabet="ab.", max_size=6))
def test_glob_to_regex_agrees_with_fnmatchcase_on_paths(pattern, subject):
    ours = re.fullmatch(glob_to_regex(pattern), subject, re.DOTALL) is not None
    assert ours == fnmatch_quiet(subject, pattern)


@FAST
@given(pattern=patterns, subject=subjects)
def test_literal_text_is_the_one_text_a_plain_pattern_matches(pattern, subject):
    text = literal_text(pattern)
    if text is not None:
        assert fnmatch_quiet(subject, pattern) == (subject == text)


@settings(max_examples=400, deadline=None)
@given(pattern_list=st.lists(patterns, min_size=1, max_size=4), path=st.text(alphabet=PATTERN_CHARS + "c", max_size=10))
def test_every_engine_agrees_with_fnmatchcase_and_the_dot_rule(pattern_list, path):
    """The automaton, the backtrack-free regexes and the literal lookup each give fnmatch's first match."""
    expected = reference_first(pattern_list, path)
    automaton = GlobAutomaton(pattern_list)
    assert automaton.first_of(automaton.run(path)) == expected
    assert PatternGroup(pattern_list).regex_first(path) == PatternGroup(pattern_list, lookup_literals=False).regex_first(path) or (
        PatternGroup(pattern_list).literal
    )
    matcher = Matcher([pattern_list])
    assert matcher.first(path) == (expected,)
    matcher.automaton = None  # the engine used for thousands of patterns
    assert matcher.first(path) == (expected,)
    assert PatternSet(pattern_list).first(path) == expected
    for i, p in enumerate(pattern_list):
        assert bool(matched_by_text([(i, p)], [path])) == reference_hit([p], path)


@FAST
@given(pattern_list=st.lists(patterns, min_size=1, max_size=4), paths=st.lists(st.text(alphabet="ab0.", min_size=1, max_size=6), max_size=6))
def test_bulk_hits_agree_with_one_path_at_a_time(pattern_list, paths):
    matcher = Matcher([pattern_list, pattern_list[::-1]])
    forward, backward = matcher.hits(paths)
    assert forward == [reference_first(pattern_list, p) for p in paths]
    assert backward == [reference_first(pattern_list[::-1], p) for p in paths]
    by_regex = Matcher([pattern_list, pattern_list[::-1]])
    by_regex.automaton = None  # the engine used for thousands of patterns
    assert by_regex.hits(paths) == [forward, backward]
    for g, hits in enumerate((forward, backward)):
        ordered = pattern_list if g == 0 else pattern_list[::-1]
        expected = {i for i, p in enumerate(ordered) if any(reference_hit([p], path) for path in paths)}
        assert matcher.matched(g, paths, hits) == expected


@FAST
@given(pattern_list=st.lists(patterns, min_size=1, max_size=4), paths=st.lists(st.text(alphabet="ab0.", min_size=1, max_size=6), max_size=8))
def test_first_of_module_steps_from_remembered_parents_to_what_first_says(pattern_list, paths):
    matcher = Matcher([pattern_list])
    for path in paths + paths[::-1]:  # any order, each path asked again after its relatives were
        assert matcher.first_of_module(path) == (reference_first(pattern_list, path),)


@FAST
@given(pattern=patterns, subject=subjects)
def test_required_literal_is_in_every_match(pattern, subject):
    if fnmatch_quiet(subject, pattern):
        assert required_literal(pattern) in subject


@FAST
@given(pattern_list=st.lists(patterns, min_size=1, max_size=4), path=st.text(alphabet=NAME_CHARS + ".", max_size=8))
def test_pattern_set_first_is_the_first_matching_pattern(pattern_list, path):
    expected = next(
        (i for i, p in enumerate(pattern_list) if fnmatch_quiet(path, p) or fnmatch_quiet(path + ".", p)), None
    )
    pattern_set = PatternSet(pattern_list)
    assert pattern_set.first(path) == expected
    for i, p in enumerate(pattern_list):
        assert pattern_set.matches(i, path) == (fnmatch_quiet(path, p) or fnmatch_quiet(path + ".", p))


@FAST
@given(model=models(), target_modules=target_modules_values)
def test_expand_agrees_with_the_reference(model, target_modules):
    include, exclude = normal(target_modules)
    expected = reference_targets(include, exclude, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetPatternWarning)
        if not expected:
            with pytest.raises(NoTargetsError):
                expand_list_of_targeted_paths(target_modules, model)
            return
        assert expand_list_of_targeted_paths(target_modules, model) == expected


unique_target_modules_values = st.fixed_dictionaries(
    {},
    optional={
        "include": st.lists(patterns, min_size=1, max_size=3, unique=True),
        "exclude": st.lists(patterns, max_size=3, unique=True),
    },
)


def single(name: str) -> nn.Module:
    root = nn.Module()
    root.add_module(name, nn.Identity())
    return root


@FAST
@given(model=models(), target_modules=unique_target_modules_values)
@example(model=single("a"), target_modules={"include": ["a", "[]a]"]})
@example(model=single("a"), target_modules={"include": ["b"]})
def test_expand_warns_exactly_for_patterns_that_matched_nothing(model, target_modules):
    """Every pattern that matches no path of the model is named in a warning, and no other one is.

    When nothing is targeted there is no warning but an error, which names every include pattern.
    """
    include, exclude = normal(target_modules)
    paths = [path for path, _ in every_path(model)]
    unmatched = {
        (kind, p)
        for kind, group in (("include", include), ("exclude", exclude))
        for p in group
        if not any(reference_hit([p], path) for path in paths)
    }
    if not reference_targets(include, exclude, model):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with pytest.raises(NoTargetsError) as caught:
                expand_list_of_targeted_paths(target_modules, model)
        assert all(repr(p) in str(caught.value) for p in include)
        assert not [w for w in record if issubclass(w.category, TargetPatternWarning)]
        return
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        expand_list_of_targeted_paths(target_modules, model)
    messages = [str(w.message) for w in record if issubclass(w.category, TargetPatternWarning)]
    warned = {
        (kind, p)
        for kind, group in (("include", include), ("exclude", exclude))
        for p in group
        if any(f"{kind} pattern {p!r} matched no module" in m for m in messages)
    }
    assert warned == unmatched
    assert len(messages) == len(unmatched)


@FAST
@given(model=models())
def test_star_lists_every_module_once_in_named_modules_order(model):
    expected = [name for name, _ in model.named_modules() if name]
    assert expand_list_of_targeted_paths({"include": ["*"]}, model) == expected
    assert len(set(expected)) == len(expected)


@FAST
@given(model=models(), target_modules=target_modules_values)
def test_exclude_everything_included_leaves_nothing(model, target_modules):
    include, _ = normal(target_modules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetPatternWarning)
        with pytest.raises(NoTargetsError):
            expand_list_of_targeted_paths({"include": include, "exclude": include}, model)


@FAST
@given(pattern_list=st.lists(st.sampled_from(["a", "a.", "[a]", "a[.]", "b", "a*", "a.*"]), min_size=1, max_size=5), paths=st.lists(st.sampled_from(["a", "b", "a.b", "c"]), max_size=4))
def test_many_literal_patterns_are_looked_up_and_match_as_globs_do(pattern_list, paths):
    import smashconfig.target_modules.patterns as patterns_module

    saved = patterns_module.AUTOMATON_POSITIONS
    patterns_module.AUTOMATON_POSITIONS = 0  # as with thousands of patterns: literals looked up, the rest by regex
    try:
        matcher = Matcher([pattern_list])
    finally:
        patterns_module.AUTOMATON_POSITIONS = saved
    assert matcher.automaton is None
    (hits,) = matcher.hits(paths)
    assert hits == [reference_first(pattern_list, p) for p in paths]
    expected = {i for i, p in enumerate(pattern_list) if any(reference_hit([p], path) for path in paths)}
    assert matcher.matched(0, paths, hits) == expected
