"""The module walk lists what ``named_modules()`` lists, in its order, with each module's parent, other
paths and automaton state; the automaton's shortcuts step to the states that reading the path gives."""

from __future__ import annotations

import sys
from typing import List, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from smashconfig.target_modules.automaton import GlobAutomaton
from smashconfig.target_modules.tree import ModuleIndex, index_modules, index_with_states
from test_matcher_properties import every_path

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATTERNS = ["*.1?", "model.layers.1.*", "*[!a]b", "*.a*", "a", "??.*", "*.*.*.*"]


def node(**children: nn.Module) -> nn.Module:
    module = nn.Module()
    for name, child in children.items():
        module.add_module(name, child)
    return module


def check(model: nn.Module) -> ModuleIndex:
    named = [(name, module) for name, module in model.named_modules() if name]
    automaton = GlobAutomaton(PATTERNS)
    index, states = index_with_states(model, automaton)
    assert index.paths == [name for name, _ in named]
    assert all(a is b for a, (_, b) in zip(index.modules, named)) and len(index.modules) == len(named)
    assert index_modules(model).paths == index.paths
    for i, path in enumerate(index.paths):
        parent = index.parents[i]
        assert (path.rpartition(".")[0] if parent < 0 else index.paths[parent]) == path.rpartition(".")[0]
        assert states[i] == automaton.run(path), path
    listed = {path for path, _ in named}
    others = {path: module for path, module in every_path(model) if path not in listed}
    assert {alias: index.modules[k] for alias, k in index.aliases.items()} == others
    assert index.with_submodules() == [i for i, module in enumerate(index.modules) if module._modules]
    return index


names = st.sampled_from(["0", "1", "12", "layers", "a", "ab", "b"])
shapes = st.recursive(st.none(), lambda children: st.dictionaries(names, children, min_size=1, max_size=3), max_leaves=14)


def build(shape, made: List[nn.Module]) -> nn.Module:
    module = nn.Identity() if shape is None else node(**{name: build(child, made) for name, child in shape.items()})
    made.append(module)
    return module


@st.composite
def models(draw) -> nn.Module:
    made: List[nn.Module] = []
    root = node(**{name: build(shape, made) for name, shape in draw(st.dictionaries(names, shapes, min_size=1, max_size=3)).items()})
    containers = [m for m in root.modules() if m._modules]
    for pick, place, name in draw(st.lists(st.tuples(st.integers(0, 99), st.integers(0, 99), st.sampled_from(["s", "t", "12"])), max_size=3)):
        parent, shared = containers[place % len(containers)], made[pick % len(made)]
        if name not in parent._modules and shared not in parent.modules() and parent not in shared.modules():
            parent.add_module(name, shared)  # shared, never a cycle
    if draw(st.booleans()):
        containers[0].add_module("gone", None)
    return root


@FAST
@given(models())
def test_the_walk_lists_named_modules_with_parents_aliases_and_states(model):
    check(model)


def test_none_children_are_skipped_and_a_shared_module_is_listed_once():
    leaf = nn.Linear(1, 1)
    block = node(q=leaf, gap=None)
    model = node(model=node(layers=nn.ModuleList([block, node(k=leaf, q=nn.Identity()), block])))
    index = check(model)
    assert index.paths == ["model", "model.layers", "model.layers.0", "model.layers.0.q", "model.layers.1", "model.layers.1.q"]
    assert index.aliases == {"model.layers.1.k": 3, "model.layers.2": 2, "model.layers.2.q": 3}


def test_a_cycle_is_walked_once():
    inner = node(leaf=nn.Identity())
    outer = node(inner=inner)
    inner.add_module("back", outer)
    index = index_modules(node(outer=outer))
    assert index.paths == [name for name, _ in node(outer=outer).named_modules() if name] == [
        "outer", "outer.inner", "outer.inner.leaf"
    ]


def test_a_model_deeper_than_the_recursion_limit_is_walked():
    depth = sys.getrecursionlimit() + 500
    model = nn.Identity()
    for _ in range(depth):
        model = node(m=model)
    index, states = index_with_states(model, GlobAutomaton(["*m.m"]))
    assert len(index.paths) == depth and index.paths[-1] == ".".join(["m"] * depth)
    assert index.parents[:3] == [-1, 0, 1] and len(states) == depth


def test_a_pipeline_lists_its_components_and_their_modules():
    class Pipeline:
        def __init__(self) -> None:
            shared = nn.Linear(1, 1)
            self.unet = node(down=shared, mid=nn.Identity())
            self.text = node(proj=shared)
            self._private = nn.Identity()

    pipeline = Pipeline()
    index, states = index_with_states(pipeline, GlobAutomaton(["unet.*"]))
    assert index.paths == ["unet", "unet.down", "unet.mid", "text"]
    assert index.parents == [-1, 0, 0, -1] and index.aliases == {"text.proj": 1}
    automaton = GlobAutomaton(["unet.*"])
    assert states == [automaton.run(path) for path in index.paths]


@FAST
@given(st.lists(st.text(alphabet="ab1.[]*?!", min_size=1, max_size=6), min_size=1, max_size=4),
       st.lists(st.lists(st.text(alphabet="ab12.", max_size=4), min_size=1, max_size=4), min_size=1, max_size=8))
def test_stepping_component_by_component_reaches_the_state_of_the_whole_path(patterns, paths):
    stepped, read = GlobAutomaton(patterns), GlobAutomaton(patterns)
    for components in paths:
        state = None
        for k in range(len(components)):
            state = stepped.child(state, components[k])
            assert state == stepped.run(".".join(components[: k + 1]))
            assert stepped.accepted(state) == read.accepted(read.run(".".join(components[: k + 1])))


def test_the_modules_with_submodules_of_a_pipeline_include_its_components():
    class Pipeline:
        def __init__(self) -> None:
            self.unet = node(block=node(conv=nn.Linear(1, 1)), gap=nn.Identity())
            self.vae = nn.Identity()

    index = index_modules(Pipeline())
    assert index.paths == ["unet", "unet.block", "unet.block.conv", "unet.gap", "vae"]
    assert index.with_submodules() == [0, 1]
    assert ModuleIndex(index.paths, index.modules).with_submodules() == [0, 1]  # an index made by hand: found by looking
