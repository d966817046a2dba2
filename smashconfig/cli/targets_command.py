"""``smashconfig targets``: the plan (or the rule behind every module) for a config, without applying it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from smashconfig.cli.output import out
from smashconfig.errors import SavedModelError

if TYPE_CHECKING:
    from smashconfig.config.smash_config import SmashConfig
    from smashconfig.plan.smash_plan import SmashPlan


def show_targets(args: argparse.Namespace, config: "SmashConfig") -> int:
    from smashconfig.cli.models import load_model
    from smashconfig.plan.build import plan_smash

    model = load_model(args.model).model
    if args.against:
        from smashconfig.plan.verify import compare_plans

        diff = compare_plans(read_plan(args.against), plan_smash(model, config, strict=args.strict))
        out(json.dumps(diff.to_dict(), indent=1) if args.json else str(diff))
        return 0 if diff.ok else 1
    if args.explain:
        return explain(args, config, model)
    plan = plan_smash(model, config, strict=args.strict)
    out(plan.to_json() if args.json else str(plan))
    return 0


def explain(args: argparse.Namespace, config: "SmashConfig", model: object) -> int:
    from smashconfig.target_modules.explain import explain_targets

    explanations = {}
    for name in config.active_algorithms:
        params = config.params(name)
        target_modules, overrides = params.pop("target_modules"), params.pop("overrides")
        explanations[name] = explain_targets(
            target_modules, model, name, params=params, overrides=overrides, strict=args.strict, registry=config.registry
        )
    if args.json:
        out(json.dumps({name: e.to_dict() for name, e in explanations.items()}, indent=1))
    else:
        out("\n\n".join(e.render() for e in explanations.values()))
    return 0


def read_plan(path: str) -> "SmashPlan":
    """A plan from a plan.json file, or from the plan.json inside a saved smashed-model directory."""
    from smashconfig.plan.smash_plan import SmashPlan

    source = Path(path)
    if source.is_dir():
        source = source / "plan.json"
    if not source.is_file():
        raise SavedModelError(f"--against {path!r}: no such plan file (give a plan.json or a saved model directory).")
    return SmashPlan.from_json(source.read_text(encoding="utf-8"))
