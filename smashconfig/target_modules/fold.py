"""Folding many module paths into a few lines: ``model.layers.[0-29].self_attn.{q,k,o}_proj``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Dict, List, Tuple

from smashconfig.target_modules.lint import ranges

if TYPE_CHECKING:
    from smashconfig.target_modules.explain import Explanation, TargetRecord

WIDTH = 72


def fold(paths: List[str]) -> List[Tuple[str, int, str]]:
    """(folded text, how many paths it stands for, its first path), in order of first appearance.

    Numeric components become index ranges (``[0-29]``); then lines that differ only in their
    last component and stand for as many paths merge into a brace set (``{q,k,o}_proj``).
    """
    shapes: Dict[Tuple[str, ...], List[Tuple[int, ...]]] = {}
    firsts: Dict[Tuple[str, ...], str] = {}
    for path in paths:
        parts = path.split(".")
        key = tuple("#" if p.isdigit() else p for p in parts)
        shapes.setdefault(key, []).append(tuple(int(p) for p in parts if p.isdigit()))
        firsts.setdefault(key, path)
    groups: Dict[Tuple[Tuple[str, ...], int], List[Tuple[str, str]]] = {}
    for key, numbers in shapes.items():
        columns = list(zip(*numbers))
        parts, slot = [], 0
        for part in key:
            if part == "#":
                values = sorted(set(columns[slot]))
                parts.append(str(values[0]) if len(values) == 1 else ranges(values))
                slot += 1
            else:
                parts.append(part)
        groups.setdefault((tuple(parts[:-1]), len(numbers)), []).append((parts[-1], firsts[key]))
    return [
        (".".join(head + (_brace([last for last, _ in members]),)), count * len(members), members[0][1])
        for (head, count), members in groups.items()
    ]


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


def render_explanation(explanation: "Explanation") -> str:
    """Header, one folded line per (paths, outcome), then the warnings."""
    tm = explanation.target_modules
    origin = "inferred" if explanation.inferred else "as written"
    head = f"{explanation.key} ({origin}) on {explanation.model}: include {tm['include']}"
    if tm["exclude"]:
        head += f", exclude {tm['exclude']}"
    targeted = sum(r.targeted for r in explanation.records)
    summary = f"{len(explanation.records)} modules, {targeted} targeted"
    if explanation.algorithm is not None:
        acting = sum(bool(r.acts) for r in explanation.records)
        summary += f", {explanation.algorithm} acts on {acting}"
    groups: Dict[str, List[str]] = {}
    for record in explanation.records:
        groups.setdefault(_outcome(record), []).append(record.path)
    order = {record.path: i for i, record in enumerate(explanation.records)}
    rows = sorted(
        ((text, count, outcome, order[first]) for outcome, paths in groups.items() for text, count, first in fold(paths)),
        key=lambda row: row[3],
    )
    width = min(WIDTH, max((len(text) for text, *_ in rows), default=0))
    lines = [head, summary]
    lines.extend(f"  {text:<{width}}  {count:>6}  {outcome}" for text, count, outcome, _ in rows)
    lines.extend(f"warning: {message}" for message in explanation.warnings)
    return "\n".join(lines)


def _outcome(record: "TargetRecord") -> str:
    outcome = record.rule
    if record.acts is True:
        outcome += "; acts"
    elif record.acts is False and record.targeted:
        outcome += "; container, not acted on" if record.container else f"; skips: {record.reason}"
    return outcome
