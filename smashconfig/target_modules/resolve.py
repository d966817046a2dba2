"""Resolve ``target_modules`` against a model: which modules are targeted, and which pattern decided.

Cost is linear in the number of modules: the include and the exclude patterns are each
compiled once into one regular expression, and every path is matched once against each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Union

from smashconfig.errors import TargetModulesError
from smashconfig.target_modules.glob import required_literal
from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE, normalize_target_modules
from smashconfig.target_modules.patterns import PatternSet
from smashconfig.target_modules.tree import ModuleIndex, index_modules


@dataclass
class Resolution:
    """The outcome of matching normalised ``target_modules`` against every module of a model.

    ``include_hit[i]`` is the index of the first include pattern matching module ``i`` (or
    ``None``); ``exclude_hit[i]`` the first exclude pattern matching it, recorded for modules an
    include matched. ``targeted`` holds module indices in ``named_modules()`` order.
    """

    target_modules: TARGET_MODULES_TYPE
    index: ModuleIndex
    include: PatternSet
    exclude: PatternSet
    include_hit: List[Optional[int]]
    exclude_hit: List[Optional[int]]
    targeted: List[int]
    unmatched_include: List[str]
    unmatched_exclude: List[str]

    @property
    def paths(self) -> List[str]:
        """Targeted paths, in ``named_modules()`` order."""
        paths = self.index.paths
        return [paths[i] for i in self.targeted]


def resolve(
    target_modules: Any, model: Union[Any, ModuleIndex], *, key: str = "target_modules"
) -> Resolution:
    """Match ``target_modules`` (user form or normal form) against ``model``; never raises on no match."""
    normal = normalize_target_modules(target_modules, key=key)
    if normal is None:
        raise TargetModulesError(
            f"{key} is None, which means 'infer per algorithm'; give an algorithm "
            "(e.g. SmashConfig.resolve_target_modules) or include/exclude patterns.",
            key=key,
        )
    index = model if isinstance(model, ModuleIndex) else index_modules(model)
    include, exclude = PatternSet(normal["include"]), PatternSet(normal["exclude"])
    include_match, exclude_match = include.fullmatch(), exclude.fullmatch()
    group_index = {f"p{i}": i for i in range(max(len(include), len(exclude)))}

    n = len(index.paths)
    include_hit: List[Optional[int]] = [None] * n
    exclude_hit: List[Optional[int]] = [None] * n
    targeted: List[int] = []
    keep = targeted.append
    for i, path in enumerate(index.paths):
        subject = path + "."
        m = include_match(subject)
        if m is None:
            continue
        include_hit[i] = group_index[m.lastgroup]  # type: ignore[index]
        e = exclude_match(subject)
        if e is None:
            keep(i)
        else:
            exclude_hit[i] = group_index[e.lastgroup]  # type: ignore[index]

    return Resolution(
        target_modules=normal,
        index=index,
        include=include,
        exclude=exclude,
        include_hit=include_hit,
        exclude_hit=exclude_hit,
        targeted=targeted,
        unmatched_include=_unmatched(include, include_hit, [index.paths]),
        unmatched_exclude=_unmatched(exclude, exclude_hit, [index.paths]),
    )


def _unmatched(patterns: PatternSet, hits: List[Optional[int]], paths: List[List[str]]) -> List[str]:
    """Patterns that match no module path at all (``paths[0]``: every path, in a list to share its joined text).

    A pattern seen as the first match of some module is matched. For any other one, a literal
    piece it requires (``no_such`` in ``*no_such*``) is first looked up in all paths joined
    into one text; only when that piece occurs are the paths matched one by one, stopping at
    the first match.
    """
    seen = set(hits)
    unmatched = []
    text: Optional[str] = None
    for i, pattern in enumerate(patterns.patterns):
        if i in seen:
            continue
        piece = required_literal(pattern)
        if piece:
            if text is None:
                text = ".\n".join(paths[0]) + "."
            if piece not in text:
                unmatched.append(pattern)
                continue
        single = patterns.single(i)
        if not any(single(path + ".") is not None for path in paths[0]):
            unmatched.append(pattern)
    return unmatched
