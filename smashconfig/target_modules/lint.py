"""The classic target-pattern mistakes, each found in one linear pass and named with its fix.

- a pattern that also hits numbered siblings (``layers.1*`` → layers 10–19);
- a pattern that matches only containers, so the layers inside are unaffected;
- uneven coverage across repeated blocks (a role targeted in some blocks, absent or
  excluded in others);
- an include or exclude pattern that matched nothing;
- the output head (or a weight tied to the input embeddings) among the targets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import compress, repeat
from operator import eq
from typing import TYPE_CHECKING, Callable, Dict, Iterable, Iterator, List, Optional, Set

from smashconfig.target_modules.glob import escape_glob, required_literal
from smashconfig.target_modules.patterns import PatternSet
from smashconfig.target_modules.messages import unmatched_pattern_warnings
from smashconfig.target_modules.resolve import Resolution
from smashconfig.text import examples, plural, ranges

if TYPE_CHECKING:
    from smashconfig.target_modules.tree import ModuleIndex

_NUMBER_STAR = re.compile(r"(?:^|(?<=\.))(\d+)\*")
_BLOCK = re.compile(r"^(?:(.*?)\.)??(\d+)\.(.*)$", re.DOTALL)
"""``parent.<number>.role``: the first numbered component splits a path into block list, block and role."""


@dataclass
class LintContext:
    """What the checks need beyond the resolution.

    ``acted`` holds the module indices the algorithm acts on (the targeted leaves, when there
    is no algorithm); ``actable(i)`` says whether it would act on module ``i`` if targeted.
    """

    resolution: Resolution
    acted: Set[int]
    actable: Callable[[int], bool]
    heads: Dict[str, str]
    key: str = "target_modules"
    model_name: str = "the model"
    algorithm: Optional[str] = None


def lint(context: LintContext) -> List[str]:
    """Every warning for this resolution, in a stable order."""
    decided = _decided(context.resolution)
    return (
        unmatched_pattern_warnings(context.resolution, key=context.key, model_name=context.model_name)
        + numbered_siblings(context, decided)
        + containers_only(context, decided)
        + uneven_coverage(context)
        + head_in_targets(context)
    )


class _Decided:
    """Pattern index → module indices it decided, worked out for a pattern when first asked.

    A module is decided by the first include pattern that matches it and, if excluded, by the
    first exclude pattern that matches it: those are the matches that change what is targeted.
    """

    def __init__(self, hits: List[Optional[int]]) -> None:
        self._hits = hits
        self._found: Dict[int, List[int]] = {}

    def __getitem__(self, k: int) -> List[int]:
        found = self._found.get(k)
        if found is None:
            found = self._found[k] = list(compress(range(len(self._hits)), map(eq, self._hits, repeat(k))))
        return found


def _decided(resolution: Resolution) -> List[tuple]:
    """(kind, PatternSet, pattern index → module indices it decided), for include and exclude."""
    return [
        ("include", resolution.include, _Decided(resolution.include_hit)),
        ("exclude", resolution.exclude, _Decided(resolution.exclude_hit)),
    ]


def numbered_siblings(context: LintContext, decided: List[tuple]) -> List[str]:
    """``layers.1*`` also matches ``layers.10`` … ``layers.19``: suggest ``layers.1.*``."""
    messages = []
    paths = context.resolution.index.paths
    for kind, patterns, by_pattern in decided:
        for k, pattern in enumerate(patterns.patterns):
            for found in _NUMBER_STAR.finditer(pattern):
                number, end = found.group(1), found.end(1)
                fixed = _only_block(pattern, end)
                narrow = PatternSet([fixed]).matcher.first_of_module
                blocks: Dict[str, None] = {}
                sibling = _sibling_finder(number)
                inside = "\0"  # the block of the last sibling found: the paths after it in it are passed over
                for i in by_pattern[k]:
                    path = paths[i]
                    if path.startswith(inside):
                        continue
                    block = sibling(path)  # cheap: tells the few paths worth matching
                    if block is not None and block not in blocks and narrow(path)[0] is None:
                        blocks[block] = None
                        inside = block + "."
                if blocks:
                    messages.append(
                        f"{context.key}: {kind} pattern {pattern!r} also matches numbered siblings of {number} "
                        f"({examples(list(blocks))}); to select only {number}, write {fixed!r}"
                    )
    return messages


def _only_block(pattern: str, end: int) -> str:
    """``pattern`` with the ``*`` after the block number at ``end`` made to stop at the block:
    ``layers.1*`` → ``layers.1.*``, ``layers.1*.mlp.*`` → ``layers.1.mlp.*``."""
    rest = pattern[end + 1 :]
    return pattern[:end] + (rest if rest.startswith(".") else ".*" + rest)


def _sibling_finder(number: str) -> Callable[[str], Optional[str]]:
    """A function giving a path up to its first component that is a longer number starting with
    ``number`` (``layers.12`` for ``1``), or ``None``."""
    search = re.compile(rf"(?:^|(?<=\.)){re.escape(number)}[0-9]+(?=\.|$)").search

    def block(path: str) -> Optional[str]:
        found = search(path)
        return path[: found.end()] if found is not None else None

    return block


def containers_only(context: LintContext, decided: List[tuple]) -> List[str]:
    """A pattern that matches only containers leaves the layers inside them as they were: suggest ``X.*``."""
    resolution = context.resolution
    index = resolution.index
    paths = index.paths
    targeted = set(resolution.targeted)
    messages = []
    for kind, patterns, by_pattern in decided:
        for k, pattern in enumerate(patterns.patterns):
            if pattern.endswith("*"):
                continue  # a pattern ending in * matches the children of whatever it matches
            # what an include matches, it targets; an exclude may also name a container no include matched
            matched = _containers_matched(index, by_pattern[k] if kind == "include" else _matches(paths, patterns, k))
            if not matched:
                continue
            inner = [i for i in _descendants(paths, matched) if context.actable(i)]
            if kind == "include":
                missed = [i for i in inner if i not in targeted]
                effect = f"the {plural(len(missed), 'layer')} inside {'is' if len(missed) == 1 else 'are'} not targeted"
            else:
                missed = [i for i in inner if i in context.acted]
                effect = f"the {plural(len(missed), 'layer')} inside {'stays' if len(missed) == 1 else 'stay'} targeted"
            if missed:
                names = examples([paths[i] for i in matched])
                messages.append(
                    f"{context.key}: {kind} pattern {pattern!r} matches only containers ({names}), so {effect}; "
                    f"write {pattern + '.*'!r} to {'target' if kind == 'include' else 'exclude'} what they contain"
                )
    return messages


def _matches(paths: List[str], patterns: PatternSet, k: int) -> Iterator[int]:
    """Each module pattern ``k`` matches, in order; only paths holding the literal text it requires are tried."""
    single = patterns.single(k)
    piece = required_literal(patterns.patterns[k]).rstrip(".")
    for i, path in enumerate(paths):
        if (not piece or piece in path) and single(path + ".") is not None:
            yield i


def _containers_matched(index: "ModuleIndex", matched: Iterable[int]) -> List[int]:
    """``matched`` when every one is a container; empty as soon as one is not (or when there are none)."""
    found = []
    for i in matched:
        if not index.is_container(i):
            return []
        found.append(i)
    return found


def _descendants(paths: List[str], roots: List[int]) -> List[int]:
    """Indices below each root (paths are in pre-order, so each subtree is a contiguous run)."""
    out: Dict[int, None] = {}
    for i in roots:
        prefix = paths[i] + "."
        j = i + 1
        while j < len(paths) and paths[j].startswith(prefix):
            out.setdefault(j)
            j += 1
    return list(out)


def uneven_coverage(context: LintContext) -> List[str]:
    """A role (``self_attn.v_proj``) targeted in some repeated blocks, absent or excluded in others."""
    resolution = context.resolution
    index = resolution.index
    paths = index.paths
    found_roles: Dict[tuple, Set[str]] = {}
    match = _BLOCK.match
    for i in context.acted:
        found = match(paths[i])
        if found is not None:
            parent, block, role = found.groups()
            key = (parent or "", role)
            numbers = found_roles.get(key)
            if numbers is None:
                found_roles[key] = numbers = set()
            numbers.add(block)
    if not found_roles:
        return []
    blocks = {parent: _numbered_children(index, parent) for parent, _ in found_roles}
    busy: Dict[str, Set[str]] = {}
    for (parent, _), numbers in found_roles.items():
        busy.setdefault(parent, set()).update(numbers)
    include, exclude = resolution.include.fullmatch(), resolution.exclude.fullmatch()
    messages = []
    for (parent, role), covered in found_roles.items():
        absent: List[int] = []
        reaching: Dict[str, None] = {}
        excluded: Dict[str, List[int]] = {}
        for block in blocks[parent] - covered:
            path = f"{parent}.{block}.{role}" if parent else f"{block}.{role}"
            subject = path + "."
            if path not in index:
                hit = include(subject)
                if hit is not None and exclude(subject) is None:
                    absent.append(int(block))
                    reaching.setdefault(resolution.include.patterns[int(hit.lastgroup[1:])])
                continue
            pattern_index = resolution.exclude_hit[index.position(path)]
            if pattern_index is None or block not in busy[parent]:
                continue
            pattern = resolution.exclude.patterns[pattern_index]
            if not _names_blocks(pattern):
                excluded.setdefault(pattern, []).append(int(block))
        if absent or excluded:
            total = len(blocks[parent])
            where = []
            if absent:
                by = " or ".join(repr(p) for p in reaching)
                where.append(f"absent in {_dotted(parent, ranges(absent))}, where {by} would target it")
            where.extend(f"excluded by {p!r} in {_dotted(parent, ranges(b))}" for p, b in excluded.items())
            fix = (
                "if the blocks really differ, name the blocks you mean by number in the pattern (a digit or a set "
                f"such as {_dotted(parent, '[0-9]')}.*) to make the selection deliberate; otherwise make the patterns uniform"
            )
            messages.append(
                f"{context.key}: uneven coverage of {_dotted(parent, '*')}.{role}: targeted in {len(covered)} of {total} "
                f"blocks, {'; '.join(where)}; {fix}"
            )
    return messages


def _dotted(parent: str, child: str) -> str:
    return f"{parent}.{child}" if parent else child


def _numbered_children(index: "ModuleIndex", parent: str) -> Set[str]:
    """The names of ``parent``'s numbered children (the blocks of a repeated stack)."""
    if not parent:
        return {path for path in index.paths if path.isdigit()}
    if parent not in index:
        return set()
    return {name for name in index.module(parent)._modules if name.isdigit()}


def _names_blocks(pattern: str) -> bool:
    """Whether a pattern picks blocks by number (a digit or a set), so what it excludes is deliberate."""
    return any(c.isdigit() or c == "[" for c in pattern)


def head_in_targets(context: LintContext) -> List[str]:
    """The output head, or a weight tied to the input embeddings, among what the algorithm acts on."""
    paths = context.resolution.index.paths
    acted = {paths[i] for i in context.acted}
    return [
        f"{context.key}: the targets include the output head {path!r} ({why}); it is usually the most sensitive "
        f"layer: add {escape_glob(path)!r} to exclude (the inferred defaults leave it out)"
        for path, why in context.heads.items()
        if path in acted
    ]
