"""``explain_targets`` vs. ``expand_list_of_targeted_paths`` on the ~100,000-module model of bench_targets.

Same model builder, same patterns (imported from ``bench_targets.py``): include
``*attn*``, ``*mlp.*``, ``model.layers.1*``, ``*norm``, ``lm_head``; exclude ``*v_proj``,
``*layers.3.*``, ``*act_fn``, ``*.5*``, ``*no_such_module*``. Both calls walk the model themselves and
run side by side in one fresh worker process, interleaved, best of 5, with their
``TargetPatternWarning``s filtered (both still build them). The worker asserts that the explanation
targets exactly the paths ``expand_list_of_targeted_paths`` returns. It also renders the explanation
once and checks that the rendering lists every warning. Goal: explain <= 3x expand.

    .venv/bin/python benchmarks/bench_explain.py [--layers N] [--repeats N] [--profile]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Dict, Sequence

import bench_targets
import common

N_LAYERS = bench_targets.N_LAYERS
REPEATS = 5
RATIO_GOAL = 3.0
TARGET_MODULES = bench_targets.TARGET_MODULES


# --------------------------------------------------------------------------- worker side


def measure(n_layers: int = N_LAYERS, repeats: int = REPEATS) -> Dict[str, Any]:
    """Runs in a fresh worker process: build the model, time explain and expand interleaved."""
    import warnings

    import torch

    from smashconfig.errors import TargetPatternWarning
    from smashconfig.target_modules import explain_targets, expand_list_of_targeted_paths

    t0 = time.perf_counter()
    model = bench_targets.build_model(n_layers)
    build_s = time.perf_counter() - t0
    tm = TARGET_MODULES
    n_modules = sum(1 for name, _ in model.named_modules() if name)

    # One call of each with warnings recorded: what each says about the patterns.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explanation = explain_targets(tm, model)
    explain_warnings = [str(w.message) for w in caught if issubclass(w.category, TargetPatternWarning)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expand_list_of_targeted_paths(tm, model)
    expand_warnings = [str(w.message) for w in caught if issubclass(w.category, TargetPatternWarning)]

    t0 = time.perf_counter()
    rendered = explanation.render()
    render_s = time.perf_counter() - t0
    lines = rendered.splitlines()
    unlisted = [message for message in explanation.warnings if f"warning: {message}" not in lines]
    if explanation.warnings != explain_warnings:
        raise AssertionError(
            f"explanation.warnings ({len(explanation.warnings)}) differ from the warnings emitted ({len(explain_warnings)})"
        )
    del explanation

    warnings.simplefilter("ignore", TargetPatternWarning)
    timings = common.best_of_interleaved(
        {
            "explain": lambda: explain_targets(tm, model),
            "expand": lambda: expand_list_of_targeted_paths(tm, model),
        },
        n=repeats,
    )
    explained = timings["explain"]["value"]
    expanded = timings["expand"]["value"]
    if explained.targeted != expanded:
        raise AssertionError(
            f"explain_targets targets {len(explained.targeted)} paths, expand_list_of_targeted_paths "
            f"{len(expanded)}"
        )
    if len(explained) != n_modules:
        raise AssertionError(f"the explanation has {len(explained)} records for {n_modules} modules")
    records_targeted = len(explained.targeted)
    del explained, expanded

    def strip(t: Dict[str, Any]) -> Dict[str, Any]:
        return {k: v for k, v in t.items() if k != "value"}

    # Where explain spends its time, for whoever optimises it.
    profile = common.profile(lambda: explain_targets(tm, model))

    return {
        "torch": torch.__version__,
        "n_layers": n_layers,
        "n_modules": n_modules,
        "n_targeted": records_targeted,
        "build_s": build_s,
        "timings": {name: strip(t) for name, t in timings.items()},
        "render_s": render_s,
        "render_lines": len(lines),
        "render_chars": len(rendered),
        "rendered": rendered,
        "warnings": explain_warnings,
        "expand_warnings": expand_warnings,
        "warnings_unlisted_in_render": unlisted,
        "profile": profile,
    }


# --------------------------------------------------------------------------- driver side


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=N_LAYERS, help="decoder layers (13 modules each)")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs per variant (best of)")
    parser.add_argument("--profile", action="store_true", help="print the cProfile of explain even if the goal is met")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    common.byte_compile_project()
    print(f"bench_explain: building a {args.layers}-layer model in a fresh process and timing ...", flush=True)
    r = common.run_function(measure, n_layers=args.layers, repeats=args.repeats)
    t = r["timings"]
    n = args.repeats
    ratio = t["explain"]["best"] / t["expand"]["best"]
    ratio_median = t["explain"]["median"] / t["expand"]["median"]
    rows = [
        {"measurement": f"best of {n}", "explain_targets": common.fmt_s(t["explain"]["best"]),
         "expand_list_of_targeted_paths": common.fmt_s(t["expand"]["best"]),
         "ratio (explain / expand)": common.fmt_x(ratio)},
        {"measurement": f"median of {n}", "explain_targets": common.fmt_s(t["explain"]["median"]),
         "expand_list_of_targeted_paths": common.fmt_s(t["expand"]["median"]),
         "ratio (explain / expand)": common.fmt_x(ratio_median)},
        {"measurement": "`explanation.render()`, one call (not part of the ratio)",
         "explain_targets": common.fmt_s(r["render_s"])},
        {"measurement": "lines of `explanation.render()`",
         "explain_targets": f"{r['render_lines']} lines ({r['render_chars']:,} characters) for {r['n_modules']:,} modules"},
        {"measurement": "warnings listed by `render()` / in `explanation.warnings`",
         "explain_targets": f"{len(r['warnings']) - len(r['warnings_unlisted_in_render'])} / {len(r['warnings'])}",
         "expand_list_of_targeted_paths": f"warns about {len(r['expand_warnings'])} (unmatched patterns only)"},
    ]
    all_listed = not r["warnings_unlisted_in_render"]
    goals = [
        common.goal(f"explain_targets <= {RATIO_GOAL:g}x expand_list_of_targeted_paths (best of {n})",
                    f"{common.fmt_x(ratio)} ({common.fmt_s(t['explain']['best'])} vs {common.fmt_s(t['expand']['best'])}; "
                    f"median {common.fmt_x(ratio_median)})", ratio <= RATIO_GOAL),
        common.goal("`explanation.render()` lists every warning",
                    f"{len(r['warnings']) - len(r['warnings_unlisted_in_render'])} of {len(r['warnings'])}", all_listed),
    ]
    description = (
        f"The ~100,000-module model of the target_modules benchmark (`bench_targets.build_model`: a Llama-shaped "
        f"tree of `nn.Identity` leaves, {r['n_layers']} decoder layers, **{r['n_modules']:,} modules**) and its "
        f"patterns: include `{TARGET_MODULES['include']}`, exclude `{TARGET_MODULES['exclude']}` → "
        f"{r['n_targeted']:,} targeted paths, the same for both (asserted). `explain_targets(tm, model)` builds a "
        f"record per module (the rule that decided it) and runs the classic-mistake checks; "
        f"`expand_list_of_targeted_paths(tm, model)` returns the targeted paths and warns about unmatched patterns."
    )
    notes = [
        f"Both run in one fresh worker process, interleaved round-robin, best of {n}, garbage collector enabled "
        "with a full collection before each call; their warnings are filtered while timing (both still build them).",
        "Warnings of `explain_targets` (all listed at the end of `render()`): "
        + " | ".join(f"`{w}`" for w in r["warnings"]),
        f"Building the model took {r['build_s']:.1f} s (not timed); torch {r['torch']}. The rendering is in the "
        "JSON under `data.rendered`, the cProfile of one explain call under `data.profile`.",
    ]
    common.write_result(
        __file__,
        title="explain_targets vs. expand_list_of_targeted_paths on a 100k-module model",
        description=description,
        columns=["measurement", "explain_targets", "expand_list_of_targeted_paths", "ratio (explain / expand)"],
        rows=rows,
        goals=goals,
        notes=notes,
        data=r,
        started=started,
    )
    common.print_result(__file__)
    print("explanation.render():")
    print(r["rendered"])
    if args.profile or not all(g["met"] for g in goals):
        print()
        common.print_profile("one explain_targets call", r["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
