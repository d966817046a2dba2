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
from smashconfig.target_modules.glob import glob_to_regex, required_literal
from smashconfig.target_modules.patterns import PatternSet

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


def reference_targets(include: List[str], exclude: List[str], model: nn.Module) -> List[str]:
    paths = [name for name, _ in model.named_modules() if name]
    return [p for p in paths if reference_hit(include, p) and not reference_hit(exclude, p)]


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
def test_expand_warns_exactly_for_patterns_that_matched_nothing(model, target_modules):
    include, exclude = normal(target_modules)
    if not reference_targets(include, exclude, model):
        return
    paths = [name for name, _ in model.named_modules() if name]

    def matches(p, path):
        return fnmatch_quiet(path, p) or fnmatch_quiet(path + ".", p)

    unmatched = {
        (kind, p)
        for kind, group in (("include", include), ("exclude", exclude))
        for p in group
        if not any(matches(p, path) for path in paths)
    }
    deciding = set()
    for path in paths:
        first_include = next((p for p in include if matches(p, path)), None)
        if first_include is None:
            continue
        deciding.add(("include", first_include))
        first_exclude = next((p for p in exclude if matches(p, path)), None)
        if first_exclude is not None:
            deciding.add(("exclude", first_exclude))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        expand_list_of_targeted_paths(target_modules, model)
    messages = [str(w.message) for w in record if issubclass(w.category, TargetPatternWarning)]
    warned = {
        (kind, p)
        for kind, group in (("include", include), ("exclude", exclude))
        for p in group
        if any(f"{kind} pattern {p!r}" in m for m in messages)
    }
    claimed_unmatched = {
        (kind, p)
        for kind, group in (("include", include), ("exclude", exclude))
        for p in group
        if any(f"{kind} pattern {p!r} matched no module" in m for m in messages)
    }
    assert unmatched <= warned
    assert claimed_unmatched <= unmatched
    assert not (warned & deciding)


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
