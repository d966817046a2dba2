"""``smash`` with quanto qint8 vs. optimum-quanto called directly: time and the memory each call adds.

Methods, each quantizing exactly the same ``Linear`` layers (asserted):

- **ours**: ``smash(model, cfg)``, ``cfg = SmashConfig(); cfg.add("quanto")`` (qint8; target_modules
  ``None``: every ``Linear`` but the output head). Atomic: the original layers stay alive until
  every step has succeeded.
- **direct**: ``quantize(model, weights=qint8, exclude=[head]); freeze(model)`` as users call it,
  autograd on.
- **direct, no_grad**: the same inside ``torch.no_grad()``.

A goal compares ours with the better of the two direct calls.

Each figure comes from a fresh process that imports torch, transformers, optimum.quanto and
smashconfig first. *First call*: the process builds the model, then the first call is measured
(for ours, building the SmashConfig, which imports ConfigSpace, and ``smash``). *Steady state*:
the process first makes the same call on a 4-layer Llama (ours builds its SmashConfig then), builds
the measured model, and measures the next call. torch runs one thread in every worker. Memory is what the call adds: the peak resident
set during the call minus the resident set before it (``memprobe.py``).

Goals: steady-state time of ours at most 1.05x the better direct call (best of fresh processes) on
MiniLM and on Llamas of 2,000 and 8,000 modules; at 2,000 and 8,000 modules, ours adds at most 1.1x
(the better direct call's extra + the bytes of the quantized tensors it creates): keeping the
originals costs at least those bytes, since direct quanto frees each float weight once quantized.

    .venv/bin/python benchmarks/bench_smash.py [--runs N] [--runs-8k N] [--first-runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import common
import memprobe
from memprobe import MIB

RUNS, RUNS_8K, FIRST_RUNS = 6, 3, 2
THREADS = 1  # on a shared 2-core machine, OpenMP threads waiting on each other make small kernels 10x slower at random
TIME_GOAL, MEMORY_GOAL = 1.05, 1.1
SEED = 0
MODULES_PER_LAYER, OTHER_MODULES = 13, 6  # LlamaForCausalLM: per decoder layer; model, embed, layers, norm, rotary, head
MODELS = {"minilm": None, "llama-2k": 2000, "llama-8k": 8000}
LABELS = {"minilm": "MiniLM", "llama-2k": "Llama 2k", "llama-8k": "Llama 8k"}
METHODS = {"ours": "smash", "direct": "direct", "direct_nograd": "direct, no_grad"}


# --------------------------------------------------------------------------- worker side


def build_model(name: str) -> Tuple[Any, Optional[List[str]]]:
    """``(model, exclude patterns naming its output head, or None)``."""
    import torch

    from smashconfig.cli.models import TINY_LLAMA_SHAPE

    if name == "minilm":
        from smashconfig.cli.models import minilm

        return minilm().model, None  # a BertModel: no output head
    from transformers import LlamaConfig, LlamaForCausalLM

    layers = 4 if name == "warm-up" else -(-(MODELS[name] - OTHER_MODULES) // MODULES_PER_LAYER)
    torch.manual_seed(SEED)
    return LlamaForCausalLM(LlamaConfig(num_hidden_layers=layers, **TINY_LLAMA_SHAPE)).eval(), ["lm_head"]


def _call(method: str, model: Any, head: Optional[List[str]], cfg: Any) -> Any:
    import optimum.quanto as oq
    import torch

    if method == "ours":
        from smashconfig import SmashConfig, smash

        if cfg is None:  # the first call builds its config (importing ConfigSpace), as a user's first call does
            cfg = SmashConfig()
            cfg.add("quanto")
        return lambda: smash(model, cfg)

    def direct() -> None:
        oq.quantize(model, weights=oq.qint8, exclude=head)
        oq.freeze(model)

    if method == "direct":
        return direct

    def direct_nograd() -> None:
        with torch.no_grad():
            direct()

    return direct_nograd


def _quantized(model: Any) -> Dict[str, Any]:
    """Paths of the quanto layers (all frozen) and the bytes of the quantized tensors they hold."""
    from optimum.quanto.nn import QModuleMixin

    paths, stored = [], 0
    for name, module in model.named_modules():
        if isinstance(module, QModuleMixin):
            if not module.frozen:
                raise AssertionError(f"{name} is not frozen")
            paths.append(name)
            stored += sum(t.numel() * t.element_size() for t in (module.weight._data, module.weight._scale))
    return {"paths": paths, "quantized_bytes": stored}


def measure(model_name: str, method: str, phase: str) -> Dict[str, Any]:
    """In a fresh worker: the first call (``phase="first"``) or a steady-state call of ``method``."""
    import gc
    import logging

    import optimum.quanto  # noqa: F401
    import torch
    import transformers  # noqa: F401

    import smashconfig

    logging.getLogger("smashconfig").setLevel(logging.WARNING)
    torch.set_num_threads(THREADS)
    cfg = None
    if phase == "steady":
        if method == "ours":
            cfg = smashconfig.SmashConfig()
            cfg.add("quanto")
        warm, warm_head = build_model("warm-up")
        _call(method, warm, warm_head, cfg)()
        del warm
    model, head = build_model(model_name)
    modules = sum(1 for n, _ in model.named_modules() if n)
    call = _call(method, model, head, cfg)
    gc.collect()
    _, figures = memprobe.measure_call(call)
    quantized = _quantized(model)
    if method == "ours" and quantized["paths"] != model.smash_plan.steps[0].acted:
        raise AssertionError("smash quantized other layers than its plan lists")
    return {**figures, **quantized, "modules": modules, "threads": torch.get_num_threads(), "torch": torch.__version__}


# --------------------------------------------------------------------------- driver side


def mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="fresh processes per method, MiniLM and Llama 2k")
    parser.add_argument("--runs-8k", type=int, default=RUNS_8K)
    parser.add_argument("--first-runs", type=int, default=FIRST_RUNS, help="first-call processes per method")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    common.byte_compile_project()

    plan = [(m, "steady", args.runs_8k if m == "llama-8k" else args.runs) for m in MODELS]
    plan += [(m, "first", args.first_runs) for m in ("minilm", "llama-2k")]
    runs: Dict[Tuple[str, str, str], List[Dict[str, Any]]] = {}
    for round_ in range(max(n for _, _, n in plan)):  # round-robin, so noise hits every method alike
        for model_name, phase, n in plan:
            if round_ >= n:
                continue
            for method in METHODS:
                r = common.run_function(measure, model_name, method, phase, timeout=900)
                runs.setdefault((model_name, phase, method), []).append(r)
                print(f"bench_smash: round {round_ + 1}: {model_name:8s} {phase:6s} {method:13s} {r['seconds']:.3f} s, "
                      f"adds {mib(r['extra'])}", flush=True)

    for (model_name, phase, method), rs in runs.items():
        reference = runs[(model_name, phase, "direct")][0]["paths"]
        if any(r["paths"] != reference for r in rs):
            raise common.BenchmarkError(f"{model_name}: {method} quantized other layers than direct quanto")

    def best(model_name: str, phase: str, method: str) -> float:
        return min(r["seconds"] for r in runs[(model_name, phase, method)])

    def extra(model_name: str, phase: str, method: str) -> float:
        return statistics.median(r["extra"] for r in runs[(model_name, phase, method)])

    rows, goals, summary, readme = [], [], {}, []
    for m in MODELS:
        label, first = LABELS[m], runs[(m, "steady", "ours")][0]
        t = {k: best(m, "steady", k) for k in METHODS}
        x = {k: extra(m, "steady", k) for k in METHODS}
        better_t = min(t["direct"], t["direct_nograd"])
        better_x = min(x["direct"], x["direct_nograd"])
        floor = better_x + first["quantized_bytes"]
        n = len(runs[(m, "steady", "ours")])
        summary[m] = {"modules": first["modules"], "layers": len(first["paths"]), "seconds": t, "extra": x,
                      "quantized_bytes": first["quantized_bytes"], "floor": floor}
        rows.append({"model": f"{label} ({first['modules']:,} modules, {len(first['paths']):,} layers quantized)",
                     "measurement": f"steady-state time, best of {n}",
                     **{METHODS[k]: common.fmt_s(t[k]) for k in METHODS},
                     "ratio": f"{common.fmt_x(t['ours'] / better_t)} smash / better direct"})
        rows.append({"model": label, "measurement": f"memory the call adds, median of {n}",
                     **{METHODS[k]: mib(x[k]) for k in METHODS},
                     "ratio": f"{common.fmt_x(x['ours'] / floor)} smash / (better direct + {mib(first['quantized_bytes'])} quantized)"})
        goals.append(common.goal(f"{label}: steady-state time smash <= {TIME_GOAL}x the better direct call",
                                 f"{common.fmt_x(t['ours'] / better_t)} ({common.fmt_s(t['ours'])} vs {common.fmt_s(better_t)})",
                                 t["ours"] <= TIME_GOAL * better_t))
        if m != "minilm":
            goals.append(common.goal(
                f"{label}: memory smash adds <= {MEMORY_GOAL}x (better direct's + the quantized tensors' bytes)",
                f"{common.fmt_x(x['ours'] / floor)} ({mib(x['ours'])} vs {mib(better_x)} + {mib(first['quantized_bytes'])})",
                x["ours"] <= MEMORY_GOAL * floor))
            readme.append(f"- {label}: smash adds {mib(x['ours'])} at its peak, direct quanto {mib(better_x)} "
                          f"(better of autograd on / `no_grad`); the quantized tensors are {mib(first['quantized_bytes'])}, "
                          f"so atomicity costs {mib(x['ours'] - better_x)} over direct quanto.")
    for m in ("minilm", "llama-2k"):
        t = {k: best(m, "first", k) for k in METHODS}
        summary[m]["first_seconds"] = t
        rows.append({"model": LABELS[m], "measurement": f"first call in a fresh process, best of {args.first_runs} "
                     "(smash: building the SmashConfig, which imports ConfigSpace, included)",
                     **{METHODS[k]: common.fmt_s(t[k]) for k in METHODS},
                     "ratio": f"first call's extra: {common.fmt_s(t['ours'] - min(t['direct'], t['direct_nograd']))}"})
        if m == "minilm":
            readme.append(f"- First call on MiniLM in a fresh process: smash {common.fmt_s(t['ours'])} (building the "
                          f"SmashConfig imports ConfigSpace) vs direct quanto {common.fmt_s(min(t['direct'], t['direct_nograd']))}.")
    probe = runs[("minilm", "steady", "ours")][0]
    notes = [
        f"Memory measured as {probe['method']}; torch {probe['torch']}, {probe['threads']} threads.",
        "What atomicity costs: smash keeps every original float layer referenced until all steps have succeeded, "
        "so at its peak it holds the original weights and the new quantized ones; direct quanto frees each float "
        "weight once quantized. The floor of that cost is the bytes of the quantized tensors.",
    ]
    common.write_result(
        __file__,
        title="smash (quanto qint8) vs. optimum-quanto directly: steady-state and first-call time, memory the call adds",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        columns=["model", "measurement", *METHODS.values(), "ratio"],
        rows=rows,
        goals=goals,
        notes=notes,
        data={"summary": summary, "readme": ["Atomicity, in bytes (`bench_smash.py`):\n\n" + "\n".join(readme)],
              "runs": {"/".join(k): [{kk: vv for kk, vv in r.items() if kk != "paths"} for r in rs]
                       for k, rs in runs.items()}},
        started=started,
    )
    common.print_result(__file__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
