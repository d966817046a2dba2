"""The ``target_modules`` an algorithm uses when the config leaves it ``None``.

The output head is excluded (what ``get_output_embeddings()`` returns, any ``Linear`` whose
weight is tied to an input embedding, else a top-level ``lm_head``); for a pipeline-like object
only the denoiser component (``transformer`` or ``unet``) is included; within that, every leaf
the algorithm selects by default. The result is an ordinary ``TARGET_MODULES_TYPE`` dict whose
include patterns fold repeated blocks (``model.layers.*.self_attn.q_proj``) and are checked to
select exactly the intended modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from smashconfig.errors import NoTargetsError
from smashconfig.target_modules.glob import escape_glob
from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE
from smashconfig.target_modules.census import Census, take_census
from smashconfig.target_modules.patterns import PatternSet
from smashconfig.target_modules.rules import ChangedBy, TargetRules, no_module_changed
from smashconfig.target_modules.tree import ModuleIndex, components, index_modules

if TYPE_CHECKING:
    from torch import nn

DENOISERS = ("transformer", "unet")


@dataclass(frozen=True)
class DefaultTargets:
    """Inferred ``target_modules`` and, for every module, the inference rule that decided it."""

    target_modules: TARGET_MODULES_TYPE
    index: ModuleIndex
    rules: List[str]
    heads: Dict[str, str]

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
            if inside(path) and id(module.weight) in embeddings:
                tied = f"weight tied to the input embedding {embeddings[id(module.weight)]}"
                found[path] = f"{found[path]}; {tied}" if path in found else tied
        lm_head_path = f"{name}.lm_head" if name else "lm_head"
        if not found and root._modules.get("lm_head") is not None and lm_head_path in index:
            found[lm_head_path] = "top-level lm_head"
        heads.update(found)
    return heads


def _path_of(index: ModuleIndex, module: "nn.Module") -> Optional[str]:
    for i, candidate in enumerate(index.modules):
        if candidate is module:
            return index.paths[i]
    return None


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
) -> DefaultTargets:
    """The default ``target_modules`` of ``algorithm`` on ``model``, with the rule behind each module.

    Modules inside one that an algorithm already changed (``changed_by``) are left out.
    """
    from smashconfig.target_modules.acting import Acting

    index = index or index_modules(model)
    acting = Acting(index, algorithm, {}, changed_by)
    roots = components(model)
    scope = None if "" in roots else [name for name in DENOISERS if name in roots]
    if scope == []:
        raise NoTargetsError(
            f"{algorithm.name}_target_modules is None, and the {type(model).__name__} has no denoiser component "
            f"({' or '.join(DENOISERS)}) to target by default; its components are {', '.join(roots)}. "
            f"Set {algorithm.name}_target_modules, e.g. {{'include': ['{next(iter(roots))}.*']}}.",
            key=f"{algorithm.name}_target_modules",
        )
    heads = output_heads(model, index)
    rules: List[str] = []
    intended: List[int] = []
    for i, (path, module) in enumerate(zip(index.paths, index.modules)):
        if scope is not None and path.split(".", 1)[0] not in scope:
            rules.append(f"default: outside the denoiser component ({', '.join(scope)})")
        elif path in heads:
            rules.append(f"default: excluded as the output head ({heads[path]})")
        elif module._modules:
            rules.append("default: container")
        elif acting.owner(i) is not None:
            rules.append(f"default: {acting.owner(i)}")
        elif algorithm.selected_by_default(path, module):
            intended.append(i)
            rules.append(f"default: {algorithm.name} targets {type(module).__name__} by default")
        else:
            rules.append(f"default: {algorithm.name} does not target {type(module).__name__} by default")
    if not intended:
        raise NoTargetsError(
            f"{algorithm.name}_target_modules is None, and {type(model).__name__} has no module that "
            f"{algorithm.name} targets by default (the output head is left out); set "
            f"{algorithm.name}_target_modules to choose modules.",
            key=f"{algorithm.name}_target_modules",
        )
    in_scope_heads = [escape_glob(p) for p in index.paths if p in heads and (scope is None or p.split(".", 1)[0] in scope)]
    target_modules = {"include": exact_patterns(index, intended), "exclude": in_scope_heads}
    return DefaultTargets(target_modules, index, rules, heads)


def exact_patterns(index: ModuleIndex, chosen: List[int]) -> List[str]:
    """Glob patterns that select exactly the modules at positions ``chosen``.

    Paths that differ only in numeric components fold into one pattern with ``*`` there; a
    folded pattern that would also select any other module is replaced by its exact paths.
    """
    groups: Dict[str, List[int]] = {}
    for i in chosen:
        groups.setdefault(_folded(index.paths[i]), []).append(i)
    patterns = PatternSet(list(groups))
    match = patterns.fullmatch()
    chosen_set = set(chosen)
    too_wide = set()
    for j, path in enumerate(index.paths):
        if j not in chosen_set and match(path + ".") is not None:
            too_wide.update(k for k in range(len(patterns)) if patterns.matches(k, path))
    include: List[str] = []
    for k, (pattern, members) in enumerate(groups.items()):
        if k in too_wide:
            include.extend(escape_glob(index.paths[i]) for i in members)
        else:
            include.append(pattern)
    return include


def _folded(path: str) -> str:
    return ".".join("*" if part.isdigit() else escape_glob(part) for part in path.split("."))
