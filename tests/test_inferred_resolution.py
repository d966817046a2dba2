"""Inferred targets are resolved without matching their patterns: the result must be exactly what
matching the inferred patterns against the model gives, on every kind of model."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from smashconfig.contract.registry import default_registry
from smashconfig.target_modules.decide import decide_targets
from smashconfig.target_modules.defaults import exact_pattern_members, exact_patterns
from smashconfig.target_modules.resolve import resolve
from smashconfig.target_modules.tree import index_modules

import models


class Numbered(nn.Module):
    """Leaves named by numbers (folded to ``*``), a sibling whose name only ends like them, a module
    shared under two paths, and names holding glob characters."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)) for _ in range(3))
        self.extra = nn.ModuleDict({"0": nn.LayerNorm(4), "x0": nn.Linear(4, 4)})
        shared = nn.Linear(4, 4)
        self.left = nn.ModuleDict({"proj": shared})
        self.right = nn.ModuleDict({"proj": shared})
        self.odd = nn.ModuleDict({"a*b": nn.Linear(4, 4), "[c]": nn.Linear(4, 4)})


class FoldTrap(nn.Module):
    """``layers.*.q`` would also select ``layers.2.q`` here, which is a LayerNorm quanto leaves alone."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.ModuleDict({"q": nn.Linear(4, 4)}) for _ in range(2))
        self.layers.append(nn.ModuleDict({"q": nn.Embedding(3, 4)}))


MODELS = {
    "llama": lambda: models.tiny_llama(),
    "llama_tied": lambda: models.tiny_llama(tie_word_embeddings=True),
    "bert": models.tiny_bert,
    "sequential": models.sequential,
    "pipeline": models.pipeline,
    "convnet": models.ConvNet,
    "tied_lm": models.TiedLM,
    "numbered": Numbered,
    "fold_trap": FoldTrap,
}


@pytest.mark.parametrize("algorithm", ["quanto", "lora", "torchao"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_inferred_resolution_equals_matching_the_inferred_patterns(name: str, algorithm: str) -> None:
    torch.manual_seed(0)
    model: Any = MODELS[name]()
    registry = default_registry()
    decision = decide_targets(model, None, registry.get(algorithm), {}, changed_by=registry.changed_by)
    matched = resolve(decision.target_modules, index_modules(model))
    inferred = decision.resolution
    assert inferred.paths == matched.paths
    assert inferred.include_hit == matched.include_hit
    assert inferred.exclude_hit == matched.exclude_hit
    assert (inferred.unmatched_include, inferred.unmatched_exclude) == (matched.unmatched_include, matched.unmatched_exclude)


def test_a_folded_pattern_that_would_select_more_is_replaced_by_exact_paths() -> None:
    index = index_modules(FoldTrap())
    chosen = [index.position("layers.0.q"), index.position("layers.1.q")]
    assert exact_patterns(index, chosen) == ["layers.0.q", "layers.1.q"]
    members = exact_pattern_members(index, chosen)
    assert members == {"layers.0.q": [chosen[0]], "layers.1.q": [chosen[1]]}


def test_patterns_ending_in_a_number_are_checked_against_every_path() -> None:
    model = Numbered()
    index = index_modules(model)
    linears = [i for i, m in enumerate(index.modules) if isinstance(m, nn.Linear)]
    patterns = exact_patterns(index, linears)
    assert "blocks.*.*" not in patterns  # it would select the ReLUs and the Sequentials too
    assert "odd.a[*]b" in patterns and "odd.[[]c]" in patterns
    assert resolve({"include": patterns, "exclude": []}, index).targeted == linears
    # leaving out one numbered leaf: the pattern ending in '*' must not fold over it
    fewer = [i for i in linears if index.paths[i] != "blocks.1.0"]
    assert resolve({"include": exact_patterns(index, fewer), "exclude": []}, index).targeted == fewer
