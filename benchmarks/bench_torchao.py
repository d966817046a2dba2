"""``smash`` with torchao int8 vs. calling torchao's ``quantize_`` directly, and quanto vs. torchao on MiniLM.

Speed and memory. Each method runs in its own fresh process on a freshly built model:

- **ours**: ``smash(model, cfg)`` with ``torchao`` (int8_weight_only, targets inferred).
- **direct**: ``quantize_(model, Int8WeightOnlyConfig(set_inductor_config=False), filter_fn=...)``,
  the filter selecting exactly the paths ours acts on (computed before the clock starts); the
  same config object smash builds.
- **direct_default**: the same with ``Int8WeightOnlyConfig()`` as a user writes it (it also sets
  torch inductor's recommended global settings for every module).

Steady state, one torch thread: every worker first runs its own method once on a small model (imports, first-call
costs), then times one call on the measured model. Memory is what the call adds: the peak resident
set during the call minus the resident set just before it (``memprobe.py``). Models: the real all-MiniLM-L6-v2 and a LlamaForCausalLM of
``smashconfig.cli.models.TINY_LLAMA_SHAPE`` with 2,000 modules.

Goals: time ours / the better direct <= 1.05 on both; ours' extra memory <= 1.1 x (direct's extra
+ the bytes of the quantized tensors it creates: keeping the originals for rollback costs that).

Side by side on MiniLM: quanto qint8 and torchao's three types: stored weight bytes, output
fidelity (cosine similarity of the sentence embeddings to the float model's on the demo inputs),
steady-state smash time.

    .venv/bin/python benchmarks/bench_torchao.py [--runs N]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Dict, List, Tuple

import common
import memprobe
from smashconfig.cli.models import TINY_LLAMA_SHAPE

RUNS = 5
THREADS = 1  # on a shared 2-core machine, OpenMP hand-offs between 2 threads dominate small kernels
TIME_GOAL = 1.05
MEMORY_GOAL = 1.1
MODULES_PER_LAYER, OTHER_MODULES = 13, 6  # LlamaForCausalLM
MODELS = {"minilm": "MiniLM", "llama-2k": "Llama 2k"}
SIDE_BY_SIDE = {
    "quanto qint8": {"quanto": {"weight_bits": "qint8"}},
    "torchao int8_weight_only": {"torchao": {"quant_type": "int8_weight_only"}},
    "torchao int8_dynamic_activation_int8_weight": {"torchao": {"quant_type": "int8_dynamic_activation_int8_weight"}},
    "torchao float8_weight_only": {"torchao": {"quant_type": "float8_weight_only"}},
}
MIB = 1024 * 1024
METHODS = {
    "ours": "`smash(model, cfg)`",
    "direct": "`quantize_` (set_inductor_config=False, as smash)",
    "direct_default": "`quantize_` (Int8WeightOnlyConfig())",
    "apply": "diagnostic: the algorithm's `apply` alone (no plan, no snapshot)",
}


def build(name: str) -> Any:
    import torch

    if name == "minilm":
        from smashconfig.cli.models import minilm

        return minilm().model
    from transformers import LlamaConfig, LlamaForCausalLM

    layers = max(1, -(-(2000 - OTHER_MODULES) // MODULES_PER_LAYER)) if name == "llama-2k" else 2
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(num_hidden_layers=layers, **TINY_LLAMA_SHAPE)).eval()


def _call(method: str, model: Any) -> Callable[[], Any]:
    """The call to time on ``model`` (its targets resolved beforehand, untimed)."""
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    from smashconfig import SmashConfig, plan_smash, smash

    cfg = SmashConfig(["torchao"])
    if method == "ours":
        return lambda: smash(model, cfg)
    step = plan_smash(model, cfg).step("torchao")
    if method == "apply":
        from smashconfig.contract.registry import default_registry

        return lambda: default_registry().get("torchao").apply(model, step.acted, dict(step.params))
    wanted = set(step.acted)
    config = Int8WeightOnlyConfig(set_inductor_config=False) if method == "direct" else Int8WeightOnlyConfig()
    return lambda: quantize_(model, config, filter_fn=lambda module, fqn: fqn in wanted)


def measure(name: str, method: str) -> Dict[str, Any]:
    """In a fresh worker: warm up on a small model, then time one call on ``name``."""
    import gc
    import logging

    import torch
    import torchao.quantization  # noqa: F401
    import transformers  # noqa: F401

    from smashconfig.algorithms.torchao_state import components, is_tensor_subclass

    logging.getLogger("smashconfig").setLevel(logging.WARNING)
    torch.set_num_threads(THREADS)
    _call(method, build("small"))()
    model = build(name)
    call = _call(method, model)
    gc.collect()
    _, figures = memprobe.measure_call(call)
    seconds, extra = figures["seconds"], figures["extra"]
    quantized = {n: p for n, p in model.named_parameters() if is_tensor_subclass(p)}
    stored = sum(t.nbytes for n, p in quantized.items() for _, t in components(n, p))
    return {"seconds": seconds, "extra": extra, "quantized": sorted(quantized), "stored_bytes": stored}


def side_by_side(label: str) -> Dict[str, Any]:
    """In a fresh worker: size, fidelity and steady-state time of one config on MiniLM."""
    import logging

    from smashconfig import SmashConfig, smash
    from smashconfig.cli.models import minilm
    from smashconfig.apply.sizes import weight_bytes
    from smashconfig.cli.smash_command import cosine

    logging.getLogger("smashconfig").setLevel(logging.WARNING)
    config = SIDE_BY_SIDE[label]
    smash(minilm().model, SmashConfig(config))  # first call: imports, kernels
    demo = minilm()
    reference, before = demo.output(demo.model), weight_bytes(demo.model)
    t0 = time.perf_counter()
    smash(demo.model, SmashConfig(config))
    seconds = time.perf_counter() - t0
    similarity = cosine(reference, demo.output(demo.model))
    t0 = time.perf_counter()
    demo.output(demo.model)
    forward = time.perf_counter() - t0
    return {"before": before, "after": weight_bytes(demo.model), "seconds": seconds, "forward": forward,
            "cos_min": similarity.min().item(), "cos_mean": similarity.mean().item()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="fresh processes per (model, method)")
    args = parser.parse_args()
    started = time.perf_counter()
    common.byte_compile_project()
    methods = ("ours", "direct", "direct_default", "apply")
    runs: Dict[Tuple[str, str], List[Dict[str, Any]]] = {(m, k): [] for m in MODELS for k in methods}
    for round_ in range(args.runs):
        for (name, method), found in runs.items():
            found.append(common.run_function(measure, name, method, timeout=900))
            print(f"bench_torchao: {name} {method} run {round_ + 1}: {found[-1]['seconds']:.3f} s", flush=True)
    rows, goals, atomicity = [], [], []
    for name, label in MODELS.items():
        paths = {tuple(r["quantized"]) for k in methods for r in runs[(name, k)]}
        if len(paths) != 1:
            raise common.BenchmarkError(f"{name}: the methods quantized different parameters")
        best = {k: min(r["seconds"] for r in runs[(name, k)]) for k in methods}
        extra = {k: sorted(r["extra"] for r in runs[(name, k)])[len(runs[(name, k)]) // 2] for k in methods}
        stored = runs[(name, "ours")][0]["stored_bytes"]
        baseline = min(("direct", "direct_default"), key=lambda k: best[k])
        ratio = best["ours"] / best[baseline]
        floor = min(extra["direct"], extra["direct_default"]) + stored
        for k in methods:
            rows.append({"model": label, "method": METHODS[k], "best (s)": common.fmt_s(best[k]),
                         "median (s)": common.fmt_s(sorted(r["seconds"] for r in runs[(name, k)])[args.runs // 2]),
                         "extra peak RSS (median)": f"{extra[k] / MIB:.1f} MiB"})
        goals.append(common.goal(f"{label}: time ours / better direct quantize_ <= {TIME_GOAL}",
                                 f"{common.fmt_x(ratio)} ({common.fmt_s(best['ours'])} vs {baseline} "
                                 f"{common.fmt_s(best[baseline])})", ratio <= TIME_GOAL))
        goals.append(common.goal(f"{label}: extra memory <= {MEMORY_GOAL} x (direct's extra + quantized bytes)",
                                 f"{extra['ours'] / MIB:.1f} MiB vs {MEMORY_GOAL} x {floor / MIB:.1f} MiB "
                                 f"({stored / MIB:.1f} MiB quantized)", extra["ours"] <= MEMORY_GOAL * floor))
        better_extra = min(extra["direct"], extra["direct_default"])
        atomicity.append(f"- {label}: smash with torchao adds {extra['ours'] / MIB:.1f} MiB at its peak, `quantize_` "
                         f"directly {better_extra / MIB:.1f} MiB; the quantized tensors are {stored / MIB:.1f} MiB.")
    compared = {label: common.run_function(side_by_side, label, timeout=900) for label in SIDE_BY_SIDE}
    side_rows = []
    for label, r in compared.items():
        side_rows.append({"config": label, "weights (state dict)": f"{r['before'] / MIB:.1f} -> {r['after'] / MIB:.1f} MiB",
                          "cosine vs float, min / mean": f"{r['cos_min']:.5f} / {r['cos_mean']:.5f}",
                          "smash (steady state)": common.fmt_s(r["seconds"]), "forward": common.fmt_s(r["forward"])})
        rows.append({"model": "MiniLM side by side", "method": label, "best (s)": common.fmt_s(r["seconds"]),
                     "weights": f"{r['before'] / MIB:.1f} -> {r['after'] / MIB:.1f} MiB",
                     "cosine vs float (min / mean)": f"{r['cos_min']:.5f} / {r['cos_mean']:.5f}",
                     "forward (s)": common.fmt_s(r["forward"])})
    common.write_result(
        __file__,
        title="torchao: smash vs quantize_ directly, and quanto vs torchao on MiniLM",
        description=__doc__.split("\n\n")[1],
        columns=["model", "method", "best (s)", "median (s)", "extra peak RSS (median)", "weights",
                 "cosine vs float (min / mean)", "forward (s)"],
        rows=rows, goals=goals,
        data={"runs": {f"{m}/{k}": v for (m, k), v in runs.items()}, "side_by_side": compared,
              "readme": ["Atomicity with torchao, in bytes (`bench_torchao.py`):\n\n" + "\n".join(atomicity),
                         "quanto and torchao side by side on the demo model (all-MiniLM-L6-v2, `bench_torchao.py`; "
                         "cosine similarity of the sentence embeddings to the float model's on the demo inputs):\n\n"
                         + common.markdown_table(list(side_rows[0]), side_rows)]},
        notes=["Times are steady state: each worker runs its method once on a 2-layer Llama first; "
               f"torch uses {THREADS} thread(s) in every worker.",
               "Side-by-side times: one smash of MiniLM after a first one; forward: the demo inputs, once."],
        started=started,
    )
    common.print_result(__file__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
