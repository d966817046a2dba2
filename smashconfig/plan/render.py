"""``str(plan)``: a table a person reads at a glance."""

from __future__ import annotations

from typing import Any, Dict, List

from smashconfig.target_modules.coverage import Coverage, describe_coverage
from smashconfig.target_modules.explain_render import values_text
from smashconfig.text import examples, plural, table


def render_plan(plan: "SmashPlan") -> str:
    lines = [f"SmashPlan for {plan.model} ({plan.modules} modules), {len(plan.steps)} step(s)"]
    rows = [["#", "algorithm", "hyperparameters", "targeted", "acts on", "skipped"]]
    for n, step in enumerate(plan.steps, 1):
        rows.append(
            [
                str(n),
                f"{step.algorithm} ({step.group})",
                format_params(step.params),
                str(len(step.targeted)),
                str(len(step.acted)),
                str(len(step.skipped)),
            ]
        )
    lines.extend("  " + line for line in table(rows))
    for n, step in enumerate(plan.steps, 1):
        lines.extend(_step_notes(n, step))
    return "\n".join(lines)


def _step_notes(n: int, step: "PlanStep") -> List[str]:
    origin = "inferred" if step.inferred else "as written"
    notes = [f"  {n}. target_modules ({origin}): {format_targets(step.target_modules)}"]
    if step.overrides:
        notes.append(f"  {n}. {plural(len(step.overrides), 'override rule')}, {plural(len(step.groups), 'group')}:")
        notes.extend(
            f"  {n}.   {len(group['paths']):>5} × {values_text(group['params'], group['set_by'])} ({examples(group['paths'])})"
            for group in step.groups
        )
    if step.coverage:
        notes.append(f"  {n}. coverage: {describe_coverage(Coverage.from_dict(step.coverage), step.algorithm)}")
    if step.containers:
        notes.append(f"  {n}. {step.containers} targeted containers are listed but not acted on")
    for reason, paths in step.skip_summary().items():
        notes.append(f"  {n}. skips {len(paths)}: {reason} ({examples(paths)})")
    if step.needs_calibration:
        notes.append(f"  {n}. needs calibration_data")
    notes.extend(f"  {n}. warning: {message}" for message in step.warnings)
    if step.coverage.get("warning"):
        notes.append(f"  {n}. low coverage: {step.coverage['warning']}")
    return notes


def format_params(params: Dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def format_targets(target_modules: Dict[str, List[str]]) -> str:
    text = "include " + _patterns(target_modules["include"])
    if target_modules["exclude"]:
        text += "; exclude " + _patterns(target_modules["exclude"])
    return text


def _patterns(patterns: List[str]) -> str:
    return f"[{examples(patterns)}]"
