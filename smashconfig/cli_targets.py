"""``smashconfig targets``: the plan for a config on a model, without applying it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from smashconfig.commands import out

if TYPE_CHECKING:
    from smashconfig.config import SmashConfig


def show_targets(args: argparse.Namespace, config: "SmashConfig") -> int:
    from smashconfig.demo_models import load_model
    from smashconfig.plan import plan_smash

    demo = load_model(args.model)
    plan = plan_smash(demo.model, config, strict=args.strict)
    out(plan.to_json() if args.json else str(plan))
    return 0
