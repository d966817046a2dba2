"""Folding many module paths into a few lines: ``model.layers.[0-29].self_attn.{q,k,o}_proj``."""

from __future__ import annotations

import os
from typing import Dict, List, Tuple

from smashconfig.text import ranges

WIDTH = 72


def fold(paths: List[str]) -> List[Tuple[str, int, str]]:
    """(folded text, how many paths it stands for, its first path), in order of first appearance.

    Numeric components become index ranges (``[0-29]``) and lines that differ only in their last
    component, standing for as many paths, merge into a brace set (``{q,k,o}_proj``). Every line
    reads as exactly the paths it stands for: blocks of different lengths fold into separate lines.
    """
    shapes: Dict[Tuple[str, ...], Dict[Tuple[int, ...], str]] = {}
    for path in paths:
        parts = path.split(".")
        key = tuple("#" if _is_index(p) else p for p in parts)
        shapes.setdefault(key, {}).setdefault(tuple(int(p) for p in parts if _is_index(p)), path)
    order = {path: i for i, path in enumerate(paths)}
    lines: List[Tuple[Tuple[str, ...], int, str]] = []
    for key, members in shapes.items():
        for columns, numbers in _products(list(members)):
            first = min((members[n] for n in numbers), key=order.__getitem__)
            lines.append((_render(key, columns), len(numbers), first))
    lines.sort(key=lambda line: order[line[2]])
    groups: Dict[Tuple[Tuple[str, ...], int, bool], List[Tuple[str, str]]] = {}
    for parts, count, first in lines:
        word = not parts[-1][:1].isdigit() and not parts[-1].startswith("[")
        groups.setdefault((parts[:-1], count, word) if word else (parts, count, word), []).append((parts[-1], first))
    return [
        (".".join(head + (_brace([last for last, _ in members]),)) if word else ".".join(head), count * len(members), members[0][1])
        for (head, count, word), members in groups.items()
    ]


def _is_index(part: str) -> bool:
    """A numbered child (``layers.12``): digits, written as an integer is (no leading zero)."""
    return part.isdigit() and (part == "0" or part[0] != "0")


def _products(numbers: List[Tuple[int, ...]]) -> List[Tuple[Tuple[List[int], ...], List[Tuple[int, ...]]]]:
    """Split index tuples into exact products: (one sorted value list per slot, the tuples it holds)."""
    if not numbers[0]:
        return [((), numbers)]
    last_by_prefix: Dict[Tuple[int, ...], List[int]] = {}
    for n in numbers:
        last_by_prefix.setdefault(n[:-1], []).append(n[-1])
    prefixes_by_last: Dict[Tuple[int, ...], List[Tuple[int, ...]]] = {}
    for prefix, lasts in last_by_prefix.items():
        prefixes_by_last.setdefault(tuple(sorted(set(lasts))), []).append(prefix)
    out = []
    for lasts, prefixes in prefixes_by_last.items():
        for columns, held in _products(prefixes):
            out.append((columns + (list(lasts),), [prefix + (last,) for prefix in held for last in lasts]))
    return out


def _render(key: Tuple[str, ...], columns: Tuple[List[int], ...]) -> Tuple[str, ...]:
    parts, slot = [], 0
    for part in key:
        if part == "#":
            values = columns[slot]
            parts.append(str(values[0]) if len(values) == 1 else ranges(values))
            slot += 1
        else:
            parts.append(part)
    return tuple(parts)


def _brace(names: List[str]) -> str:
    if len(names) == 1:
        return names[0]
    prefix = os.path.commonprefix(names)
    prefix = prefix[: prefix.rfind("_") + 1]  # factor whole words only: {q,k,o}_proj, not e{mbeddings,ncoder}
    suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]
    suffix = suffix[suffix.find("_") :] if "_" in suffix else ""
    if any(len(n) <= len(prefix) + len(suffix) for n in names):
        prefix = suffix = ""
    inner = [n[len(prefix) : len(n) - len(suffix)] for n in names]
    return f"{prefix}{{{','.join(inner)}}}{suffix}"
