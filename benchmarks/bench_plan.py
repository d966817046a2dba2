"""Planning on the 100,000-module benchmark model: what 50 override rules and the coverage cost.

The model is ``bench_targets``' Llama-shaped tree of 7,692 layers (100,001 modules), with the seven
projections of each layer real ``Linear(2, 2)`` layers so that quanto acts on 53,844 of them. Every
figure is taken in one fresh process, the variants interleaved (best of ``--repeats``):

- ``plan_smash`` with quanto and ``bench_targets``' 5 include + 5 exclude patterns;
- the same with 50 override rules (25 per block, 25 per role, with excludes), which split the step
  into groups;
- the coverage alone (``measure_coverage`` on the same decision), against the rest of planning. The
  parameter census it reads is taken once per decision and serves the output-head search as well,
  so it counts as planning.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

N_LAYERS = 7692
REPEATS = 3
RULES_GOAL = 2.0
COVERAGE_GOAL = 0.10
ROLES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TARGET_MODULES = {
    "include": ["model.layers.*.self_attn.*", "model.layers.*.mlp.*", "*.q_proj", "*.up_proj", "model.norm"],
    "exclude": ["*.v_proj", "model.layers.1?.*", "*act_fn", "*layernorm", "no_such_module"],
}


def build_model(n_layers: int) -> Any:
    """The Llama-shaped tree, projections as ``Linear(2, 2)``, everything else ``nn.Identity``."""
    from torch import nn

    def node(*children: "tuple[str, nn.Module]") -> nn.Module:
        m = nn.Module()
        for name, child in children:
            m.add_module(name, child)
        return m

    def layer() -> nn.Module:
        return node(
            ("self_attn", node(*((n, nn.Linear(2, 2, bias=False)) for n in ROLES[:4]))),
            ("mlp", node(*((n, nn.Linear(2, 2, bias=False)) for n in ROLES[4:]), ("act_fn", nn.Identity()))),
            ("input_layernorm", nn.Identity()),
            ("post_attention_layernorm", nn.Identity()),
        )

    layers = nn.ModuleList([layer() for _ in range(n_layers)])
    return node(("model", node(("embed_tokens", nn.Identity()), ("layers", layers), ("norm", nn.Identity()))), ("lm_head", nn.Identity()))


def rules(n_layers: int) -> List[Dict[str, Any]]:
    """50 rules: 25 pick blocks spread over the model, 25 pick roles with an exclude."""
    step = max(1, n_layers // 25)
    blocks = [{"include": [f"model.layers.{i * step}.*"], "weight_bits": "qint4"} for i in range(25)]
    bits = ("qfloat8", "qint4", "qint8")
    roles = [
        {"include": [f"*.{ROLES[i % len(ROLES)]}"], "exclude": [f"model.layers.{i}.*"], "weight_bits": bits[i % 3]}
        for i in range(25)
    ]
    return blocks + roles


def measure(n_layers: int = N_LAYERS, repeats: int = REPEATS) -> Dict[str, Any]:
    """Run in a fresh interpreter: build the model, then time the three variants interleaved."""
    from smashconfig import SmashConfig, plan_smash
    from smashconfig.contract.registry import default_registry
    from smashconfig.target_modules.census import take_census
    from smashconfig.target_modules.coverage import measure_coverage
    from smashconfig.target_modules.decide import decide_targets
    from smashconfig.target_modules.defaults import output_heads
    from smashconfig.target_modules.tree import index_modules

    warnings.simplefilter("ignore")
    model = build_model(n_layers)
    plain = SmashConfig({"quanto": {"target_modules": TARGET_MODULES}})
    with_rules = SmashConfig({"quanto": {"target_modules": TARGET_MODULES, "overrides": rules(n_layers)}})
    quanto = default_registry().get("quanto")
    index = index_modules(model)
    decision = decide_targets(model, TARGET_MODULES, quanto, plain.params("quanto"), index=index, check=False)
    census = take_census(index)
    heads = set(output_heads(model, index, census))

    variants = {
        "plan": lambda: plan_smash(model, plain),
        "plan_rules": lambda: plan_smash(model, with_rules),
        "coverage": lambda: measure_coverage(census, index, decision.split.acted, heads, lambda i: None),
    }
    timings = common.best_of_interleaved(variants, n=repeats)
    for figures in timings.values():
        figures.pop("value", None)
    grouped = plan_smash(model, with_rules).steps[0]
    return {
        "timings": timings,
        "modules": len(index),
        "acted": len(decision.split.acted),
        "groups": len(grouped.groups),
    }


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=N_LAYERS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    common.byte_compile_project()
    print(f"bench_plan: planning on a {args.layers}-layer model in a fresh process ...", flush=True)
    r = common.run_function(measure, n_layers=args.layers, repeats=args.repeats)
    t = r["timings"]
    plan, plan_rules, coverage = t["plan"]["best"], t["plan_rules"]["best"], t["coverage"]["best"]
    rules_ratio = plan_rules / plan
    coverage_share = coverage / max(plan - coverage, 1e-9)
    n = args.repeats
    rows = [
        {"measurement": f"plan_smash, quanto, 5 + 5 patterns, best of {n}", "time": common.fmt_s(plan), "ratio": ""},
        {
            "measurement": f"the same with 50 override rules ({r['groups']} groups), best of {n}",
            "time": common.fmt_s(plan_rules),
            "ratio": common.fmt_x(rules_ratio),
        },
        {
            "measurement": f"coverage alone (part of plan_smash), best of {n}",
            "time": common.fmt_s(coverage),
            "ratio": f"{coverage_share:.1%} of the rest",
        },
    ]
    goals = [
        common.goal(f"planning with 50 override rules costs at most {RULES_GOAL:.0f}x planning without",
                    common.fmt_x(rules_ratio), rules_ratio <= RULES_GOAL),
        common.goal(f"coverage adds at most {COVERAGE_GOAL:.0%} to planning time",
                    f"{coverage_share:.1%}", coverage_share <= COVERAGE_GOAL),
    ]
    common.write_result(
        __file__,
        title="Planning with override rules and coverage (100,001 modules)",
        description=__doc__.split("\n\n", 1)[1].strip(),
        columns=["measurement", "time", "ratio"],
        rows=rows,
        goals=goals,
        notes=[f"{r['modules']} modules, quanto acts on {r['acted']}."],
        data=r,
        started=started,
    )
    common.print_result(__file__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
