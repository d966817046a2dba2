"""The ``target_modules`` an algorithm uses when the config leaves it ``None``.

The output head is excluded (what ``get_output_embeddings()`` returns, any ``Linear`` whose
weight is tied to an input embedding, else a top-level ``lm_head``); for a pipeline-like object
only its denoiser components are included (see :func:`default_components`), or, for a
transformers pipeline, its ``model``; within that, every leaf the algorithm selects by default.
The result is an ordinary ``TARGET_MODULES_TYPE`` dict whose include patterns fold repeated blocks (``model.layers.*.self_attn.q_proj``) and are checked to
select exactly the intended modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set, Tuple

from smashconfig.errors import NoTargetsError
from smashconfig.target_modules.glob import escape_glob
from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE
from smashconfig.target_modules.census import Census, take_census
from smashconfig.target_modules.patterns import PatternSet
from smashconfig.target_modules.rules import ChangedBy, TargetRules, no_module_changed
from smashconfig.target_modules.tree import ModuleIndex, components, index_modules

if TYPE_CHECKING:
    from torch import nn

    from smashconfig.target_modules.acting import Acting

DENOISER_NAMES = re.compile(r"(transformer|unet|prior|decoder)(_\d+)?")
"""Component names diffusers gives the models a pipeline runs at every denoising step
(``transformer``, ``transformer_2``, ``unet``, ``prior``, Wuerstchen's ``decoder``)."""
DENOISER_MODULES = ("diffusers.models.transformers.", "diffusers.models.unets.")
"""Where diffusers defines its denoiser classes (``FluxTransformer2DModel``, ``UNet2DConditionModel``,
``PriorTransformer``); text encoders, VAEs and ControlNets live elsewhere."""


@dataclass(frozen=True)
class DefaultTargets:
    """Inferred ``target_modules`` and, for every module, the inference rule that decided it."""

    target_modules: TARGET_MODULES_TYPE
    index: ModuleIndex
    rules: List[str]
    heads: Dict[str, str]
    members: List[List[int]] = field(default_factory=list)
    """For each include pattern, the positions of the modules it selects (exactly those)."""

    def rule(self, path: str) -> str:
        return self.rules[self.index.position(path)]


def output_heads(model: Any, index: Optional[ModuleIndex] = None, census: Optional[Census] = None) -> Dict[str, str]:
    """Path → why it is an output head, for every root of ``model`` (each component of a pipeline)."""
    index = index or index_modules(model)
    census = census or take_census(index)
    embeddings = census.embeddings
    linears = [(index.paths[i], index.modules[i]) for i in census.linears]
    heads: Dict[str, str] = {}
    for name, root in components(model).items():
        inside = (lambda path: True) if not name else (lambda path, name=name: path.split(".", 1)[0] == name)
        found: Dict[str, str] = {}
        head = _output_embeddings(root)
        head_path = _path_of(index, head) if head is not None else None
        if head_path is not None:
            found[head_path] = "returned by get_output_embeddings()"
        for path, module in linears:
            weight_id = id(module._parameters.get("weight"))
            if weight_id in embeddings and inside(path):
                tied = f"weight tied to the input embedding {embeddings[weight_id]}"
                found[path] = f"{found[path]}; {tied}" if path in found else tied
        lm_head = root._modules.get("lm_head")
        if not found and lm_head is not None and _path_of(index, lm_head) is not None:
            found[f"{name}.lm_head" if name else "lm_head"] = "top-level lm_head"
        heads.update(found)
    return heads


def _path_of(index: ModuleIndex, module: "nn.Module") -> Optional[str]:
    """The path ``module`` is listed at, found by identity (a C-level scan), or ``None``."""
    return next(compress(index.paths, map(is_, index.modules, repeat(module))), None)


def _output_embeddings(root: "nn.Module") -> Optional["nn.Module"]:
    getter = getattr(root, "get_output_embeddings", None)
    if not callable(getter):
        return None
    try:
        head = getter()
    except Exception:  # some models raise instead of returning None
        return None
    from torch import nn

    return head if isinstance(head, nn.Module) else None


def infer_default_targets(
    model: Any,
    algorithm: TargetRules,
    index: Optional[ModuleIndex] = None,
    changed_by: ChangedBy = no_module_changed,
    *,
    acting: Optional["Acting"] = None,
    heads: Optional[Dict[str, str]] = None,
) -> DefaultTargets:
    """The default ``target_modules`` of ``algorithm`` on ``model``, with the rule behind each module.

    Modules inside one that an algorithm already changed (``changed_by``) are left out. ``acting``
    and ``heads``, when the caller has them, spare computing them again.
    """
    from smashconfig.target_modules.acting import Acting, is_container

    index = index or index_modules(model)
    acting = acting or Acting(index, algorithm, {}, changed_by)
    roots = components(model)
    scope, what = default_components(roots)
    if scope == []:
        first = next(iter(roots))
        raise NoTargetsError(
            f"{algorithm.name}_target_modules is None, and the {type(model).__name__} has no denoiser component "
            f"(named transformer, unet, prior or decoder, optionally with a number, or of a diffusers "
            f"transformer or UNet class) nor a 'model' component to target by default; its components are "
            f"{', '.join(roots)}. Set {algorithm.name}_target_modules, e.g. {{'include': ['{first}.*']}}.",
            key=f"{algorithm.name}_target_modules",
        )
    heads = output_heads(model, index) if heads is None else heads
    rules: List[str] = []
    intended: List[int] = []
    add_rule, add_intended = rules.append, intended.append
    outside = f"default: outside the {what} ({', '.join(scope)})" if scope else ""
    owner, selected = acting.owner, algorithm.selected_by_default
    words: Dict[Tuple[type, bool], str] = {}  # whether a module is selected depends on it; the words on its type
    for i, (path, module) in enumerate(zip(index.paths, index.modules)):
        if scope is not None and path.split(".", 1)[0] not in scope:
            add_rule(outside)
        elif path in heads:
            add_rule(f"default: excluded as the output head ({heads[path]})")
        elif module._modules and is_container(module):
            add_rule("default: container")
        elif owner(i) is not None:
            add_rule(f"default: {owner(i)}")
        else:
            chosen = selected(path, module)
            if chosen:
                add_intended(i)
            text = words.get((type(module), chosen))
            if text is None:
                text = words[type(module), chosen] = _rule_words(algorithm.name, type(module).__name__, chosen)
            add_rule(text)
    if not intended:
        raise NoTargetsError(
            f"{algorithm.name}_target_modules is None, and {type(model).__name__} has no module that "
            f"{algorithm.name} targets by default (the output head is left out); set "
            f"{algorithm.name}_target_modules to choose modules.",
            key=f"{algorithm.name}_target_modules",
        )
    in_scope_heads = [escape_glob(p) for p in index.paths if p in heads and (scope is None or p.split(".", 1)[0] in scope)]
    folded = exact_pattern_members(index, intended)
    target_modules = {"include": list(folded), "exclude": in_scope_heads}
    return DefaultTargets(target_modules, index, rules, heads, list(folded.values()))


def _rule_words(name: str, kind: str, selected: bool) -> str:
    return f"default: {name} targets {kind} by default" if selected else f"default: {name} does not target {kind} by default"


def default_components(roots: Dict[str, "nn.Module"]) -> Tuple[Optional[List[str]], str]:
    """The components a default targets, and what they are, in words; ``None`` for a plain module.

    A pipeline's denoisers are what it runs at every step of its denoising loop: components named
    as diffusers names them (:data:`DENOISER_NAMES`), or whose class is a diffusers transformer or
    UNet (:data:`DENOISER_MODULES`, so a renamed or second denoiser is found too). Without a
    denoiser, a transformers pipeline's ``model`` is the target. ``[]``: nothing to target.
    """
    if "" in roots:
        return None, "model"
    denoisers = [name for name, module in roots.items() if DENOISER_NAMES.fullmatch(name) or _is_denoiser_class(module)]
    if denoisers:
        return denoisers, "denoiser component" + ("s" if len(denoisers) > 1 else "")
    if "model" in roots:
        return ["model"], "model component"
    return [], ""


def _is_denoiser_class(module: "nn.Module") -> bool:
    return any(cls.__module__.startswith(DENOISER_MODULES) for cls in type(module).__mro__)


def exact_patterns(index: ModuleIndex, chosen: List[int]) -> List[str]:
    """Glob patterns that select exactly the modules at positions ``chosen`` (see :func:`exact_pattern_members`)."""
    return list(exact_pattern_members(index, chosen))


def exact_pattern_members(index: ModuleIndex, chosen: List[int]) -> Dict[str, List[int]]:
    """Glob patterns that select exactly the modules at positions ``chosen``, each with the positions it selects.

    Paths that differ only in numeric components fold into one pattern with ``*`` there; a
    folded pattern that would also select any other module (at any of its paths) is replaced by
    its exact paths. A folded pattern ending in a name can only match paths ending in that name
    (module names hold no dots), so only those are checked; one ending in ``*`` checks every path.
    """
    groups: Dict[str, List[int]] = {}
    tails: Set[str] = set()  # the last names of the patterns that end in a name
    check_all = False
    paths = index.paths
    folded_parents: Dict[str, str] = {"": ""}  # siblings share their parent's folded path: fold it once
    for i in chosen:
        path = paths[i]
        parent, _, name = path.rpartition(".")
        prefix = folded_parents.get(parent)
        if prefix is None:
            prefix = folded_parents[parent] = _folded(parent) + "."
        pattern = prefix + ("*" if name.isdigit() else escape_glob(name))
        members = groups.get(pattern)
        if members is None:
            groups[pattern] = members = []
            if name.isdigit():
                check_all = True
            else:
                tails.add(name)
        members.append(i)
    chosen_set = set(chosen)
    every_path = list(zip(paths, range(len(paths)))) + list(index.aliases.items())
    candidates = [
        path
        for path, j in every_path
        if j not in chosen_set and (check_all or path.rpartition(".")[2] in tails)
    ]
    too_wide = set()
    if candidates:
        patterns = PatternSet(list(groups))
        for path in candidates:
            if patterns.first(path) is not None:
                too_wide.update(k for k in range(len(patterns)) if patterns.matches(k, path))
    if not too_wide:
        return groups
    exact: Dict[str, List[int]] = {}
    for k, (pattern, members) in enumerate(groups.items()):
        if k in too_wide:
            for i in members:
                exact.setdefault(escape_glob(paths[i]), []).append(i)
        else:
            exact[pattern] = members
    return exact


def _folded(path: str) -> str:
    """``path`` as a glob with ``*`` in place of each all-digit component."""
    return ".".join("*" if part.isdigit() else part for part in escape_glob(path).split("."))
