"""One pass over a model's parameters: which modules hold which, counted once, and the facts about
embeddings and linear layers that finding the output head needs. Coverage and the head both read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

from smashconfig.target_modules.tree import ModuleIndex


@dataclass
class Census:
    """Per module holding parameters of its own (each parameter counted at its first holder)."""

    holders: List[int] = field(default_factory=list)
    counts: List[int] = field(default_factory=list)
    sizes: List[int] = field(default_factory=list)
    embeddings: Dict[int, str] = field(default_factory=dict)
    """``id`` of each input embedding's weight → the embedding's path."""
    embedding_paths: List[str] = field(default_factory=list)
    linears: List[int] = field(default_factory=list)
    """Indices of the ``Linear`` layers (candidates for a head tied to an embedding)."""


def take_census(index: ModuleIndex) -> Census:
    """The census of ``index``'s modules, in one pass."""
    from torch import nn
    from torch.nn.parameter import Parameter, is_lazy

    census = Census()
    seen: set = set()
    seen_add = seen.add
    holders, counts, sizes = census.holders.append, census.counts.append, census.sizes.append
    paths = index.paths
    embedding, linear = (nn.Embedding, nn.EmbeddingBag), nn.Linear
    for i, module in enumerate(index.modules):
        own = module._parameters
        if not own:
            continue
        count = nbytes = 0
        for p in own.values():
            if p is None or id(p) in seen or (type(p) is not Parameter and is_lazy(p)):
                continue
            seen_add(id(p))
            n = p.numel()
            count += n
            nbytes += n * p.element_size()
        if isinstance(module, embedding):
            census.embedding_paths.append(paths[i])
            weight = own.get("weight")
            if weight is not None:
                census.embeddings[id(weight)] = paths[i]
        elif isinstance(module, linear):
            census.linears.append(i)
        if count:
            holders(i)
            counts(count)
            sizes(nbytes)
    return census
