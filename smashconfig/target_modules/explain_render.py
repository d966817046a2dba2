"""The text form of an explanation: repeated blocks folded into index ranges, one line per outcome."""

from __future__ import annotations

from typing import Any, Dict, List

from smashconfig.target_modules.fold import WIDTH, fold


def render_explanation(explanation: Any) -> str:
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
    for text, count, outcome, _ in rows:
        if len(text) > width:  # a label too long for the column gets a line of its own
            lines.append(f"  {text}")
            text = ""
        lines.append(f"  {text:<{width}}  {count:>6}  {outcome}")
    lines.extend(f"warning: {message}" for message in explanation.warnings)
    return "\n".join(lines)


def _outcome(record: Any) -> str:
    outcome = record.rule
    if record.acts is True:
        outcome += "; acts"
        if record.values is not None and (record.set_by or len(record.values) <= 3):
            outcome += " with " + values_text(record.values, record.set_by or {})
    elif record.acts is False and record.targeted:
        outcome += "; container, not acted on" if record.container else f"; skips: {record.reason}"
    return outcome


def values_text(values: Dict[str, Any], set_by: Dict[str, Any]) -> str:
    """``weight_bits=qint4 (rule 2) activation_bits=none``: values, and the rule behind each overridden one."""
    return " ".join(f"{k}={v}" + (f" (rule {_rules(set_by[k])})" if k in set_by else "") for k, v in values.items())


def _rules(numbers: Any) -> str:
    return ", ".join(map(str, numbers)) if isinstance(numbers, list) else str(numbers)
