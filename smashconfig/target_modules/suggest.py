"""Messages for patterns that select nothing: the patterns, the likely slip, the nearest real paths."""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Dict, Iterable, List

from smashconfig.target_modules.glob import has_wildcards

if TYPE_CHECKING:
    from smashconfig.target_modules.resolve import Resolution
    from smashconfig.target_modules.tree import ModuleIndex

_INDEX = re.compile(r"(?:(?<=\.)|^)\d+(?=\.|$)")
_REGEX_SIGNS = re.compile(r"\\[dwsDWS.]|[\^$+|(){}]|\.\*\?|\[\^")


def shape(path: str) -> str:
    """``path`` with its numeric components replaced by ``*``: ``model.layers.*.mlp``."""
    return _INDEX.sub("*", path)


def nearest_paths(pattern: str, index: "ModuleIndex", n: int = 3) -> List[str]:
    """Real paths that look most like ``pattern``, one per distinct shape.

    Paths the pattern would match if case were ignored come first; then the closest by whole
    path, then by last component (``*Q_PROJ``, ``q_prj`` → ``model.layers.0.self_attn.q_proj``).
    """
    from smashconfig.target_modules.patterns import PatternSet

    representatives: Dict[str, str] = {}
    for path in representative_paths(index):
        representatives.setdefault(shape(path), path)
    paths = list(representatives.values())
    folded = PatternSet([pattern.lower()])
    found = [p for p in paths if folded.matches(0, p.lower())]
    probe = pattern.replace("*", "").replace("?", "").strip(".")
    found += [representatives[s] for s in difflib.get_close_matches(shape(probe), list(representatives), n=n, cutoff=0.4)]
    tails: Dict[str, str] = {}
    for path in paths:
        tails.setdefault(path.rpartition(".")[2], path)
    found += [tails[t] for t in difflib.get_close_matches(probe.rpartition(".")[2], list(tails), n=n, cutoff=0.6)]
    return list(dict.fromkeys(found))[:n]


def representative_paths(index: "ModuleIndex") -> List[str]:
    """Paths of the model's distinct structure: of numbered siblings (repeated blocks) only the first is walked."""
    out: List[str] = []
    stack = list(reversed(_first_numbered(_top_level(index))))
    seen = set()  # a shared module is walked once (sharing nested in sharing would multiply paths)
    while stack:
        path, module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        out.append(path)
        children = _first_numbered(module._modules.items())
        stack.extend((f"{path}.{name}", child) for name, child in reversed(children))
    return out


def _top_level(index: "ModuleIndex") -> List[tuple]:
    """(path, module) of the top-level modules, skipping each one's subtree (contiguous in walk order)."""
    paths, found, i, n = index.paths, [], 0, len(index.paths)
    while i < n:
        path = paths[i]
        found.append((path, index.modules[i]))
        inside = path + "."
        # gallop, then bisect, to the end of the block of paths that start with ``inside``
        low, step = i, 1
        while low + step < n and paths[low + step].startswith(inside):
            low, step = low + step, step * 2
        high = min(low + step, n)
        while high - low > 1:
            middle = (low + high) // 2
            if paths[middle].startswith(inside):
                low = middle
            else:
                high = middle
        i = high
    return found


def _first_numbered(children: Iterable[tuple]) -> List[tuple]:
    """``children`` (name or path, module) without the numbered ones after the first (``layers.1``, ...)."""
    kept, numbered = [], False
    for name, module in children:
        if module is None:
            continue
        if name.rpartition(".")[2].isdigit():
            if numbered:
                continue
            numbered = True
        kept.append((name, module))
    return kept


def slip_hint(pattern: str, index: "ModuleIndex") -> str:
    """A one-sentence guess at why ``pattern`` matched nothing, or ``""``."""
    if _REGEX_SIGNS.search(pattern):
        return (
            f"{pattern!r} looks like a regular expression; patterns are shell-style globs "
            "(* any run of characters, ? one character, [abc] a set)"
        )
    if not has_wildcards(pattern):
        tail = "." + pattern
        if any(path.endswith(tail) for path in index.paths):
            return (
                f"{pattern!r} matches only a module whose whole path is {pattern!r}; patterns match the whole "
                f"path, so write '*.{pattern}' to select every module named {pattern!r}"
            )
    folded = pattern.lower()
    if pattern != folded or any(c.isupper() for c in pattern):
        from smashconfig.target_modules.patterns import PatternSet

        lowered = PatternSet([folded])
        if any(lowered.matches(0, path.lower()) for path in index.paths):
            return f"{pattern!r} would match if case were ignored; patterns are case-sensitive"
    return ""


def describe_pattern_miss(pattern: str, index: "ModuleIndex") -> str:
    """``": <slip hint>; nearest real paths: ..."`` for a pattern that matched nothing, or ``""``."""
    parts = []
    hint = slip_hint(pattern, index)
    if hint:
        parts.append(hint)
    near = nearest_paths(pattern, index)
    if near:
        parts.append("nearest real paths: " + ", ".join(near))
    return (": " + "; ".join(parts)) if parts else ""


def no_targets_message(resolution: "Resolution", *, key: str, model_name: str) -> str:
    """Why ``resolution`` targets nothing, repeating the user's patterns back (the first few, when many)."""
    from smashconfig.errors import short_repr

    index = resolution.index
    tm = resolution.target_modules
    head = f"{key} {short_repr(tm, 300)} selects no module of {model_name} ({len(index)} modules)."
    if not index.paths:
        return head + " The model has no submodules."
    removed = [i for i, hit in enumerate(resolution.include_hit) if hit is not None]
    if removed:
        used = sorted({tm['exclude'][resolution.exclude_hit[i]] for i in removed})  # type: ignore[index]
        return (
            f"{head} The include patterns matched {len(removed)} modules, and every one was removed by "
            f"exclude {', '.join(short_repr(p) for p in used[:MISSES_SHOWN])}{_more(used)}."
        )
    include = tm["include"]
    misses = " | ".join(short_repr(p) + describe_pattern_miss(p, index) for p in include[:MISSES_SHOWN])
    top = sorted({p.split(".", 1)[0] for p in index.paths})
    return (
        f"{head} No include pattern matched: {misses}{_more(include)}. "
        f"Top-level modules: {', '.join(top[:12])}."
    )


MISSES_SHOWN = 5


def _more(patterns: List[str]) -> str:
    return f" (and {len(patterns) - MISSES_SHOWN} more)" if len(patterns) > MISSES_SHOWN else ""
