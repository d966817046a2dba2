"""``lora``: PEFT LoRA adapters injected into the targeted layers, in place.

The model keeps its own class (PEFT's ``inject_adapter_in_model``, no ``PeftModel`` wrapper);
base weights are frozen and the adapters are trainable. PEFT is given a regular expression
that matches exactly the resolved paths, never patterns it would widen with its own suffix
rules, and the result is checked path by path. On a quantized base, merging the adapters is
refused: PEFT would silently lose the LoRA delta.
"""

from __future__ import annotations

import re
import types
import warnings
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from smashconfig.contract.algorithm import Algorithm
from smashconfig.contract.layers import first_on_meta
from smashconfig.errors import PlanError, UnsafeOperationError

if TYPE_CHECKING:
    from torch import nn

    from smashconfig.contract.step import StepInput


SUPPORTED = "Linear, Embedding, Conv1d/2d/3d and transformers' Conv1D layers"


class LoRA(Algorithm):
    """Low-rank adapters (PEFT) on the targeted layers; base frozen, adapters trainable."""

    name = "lora"
    group = "adapter"
    requires = ("peft",)
    extra = "lora"
    backend_modules = ("peft",)
    description = "PEFT LoRA adapters (trainable), QLoRA-style on a quantized base"
    supports = SUPPORTED
    order = 30
    warns_on_low_coverage = False  # adapters go where they are put; covering a few projections is the usual use

    def hyperparameters(self) -> List[Any]:
        from ConfigSpace import Float, Integer

        return [
            Integer("r", (1, 1024), default=8, meta={"help": "rank of the adapters"}),
            Integer("alpha", (1, 2048), default=16, meta={"help": "scaling numerator (scale = alpha / r)"}),
            Float("dropout", (0.0, 0.9), default=0.0, meta={"help": "dropout on the adapter input"}),
        ]

    # ----- which modules -------------------------------------------------------------------------

    def skip_reason(self, path: str, module: "nn.Module", params: Mapping[str, Any]) -> Optional[str]:
        from torch import nn

        kind = type(module).__name__
        if isinstance(module, (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d)) or _is_transformers_conv1d(module):
            return None
        return f"{kind} is not adapted by lora (it adapts {SUPPORTED})"

    def selected_by_default(self, path: str, module: "nn.Module") -> bool:
        from torch import nn

        return isinstance(module, nn.Linear) or _is_transformers_conv1d(module)

    def is_changed(self, module: "nn.Module") -> bool:
        """A PEFT LoRA layer: it wraps a base layer and holds adapters."""
        return has_adapter(module)

    def check(self, model: Any, targets: Sequence[str], params: Mapping[str, Any], calibration_data: Any) -> None:
        from torch import nn

        if not isinstance(model, nn.Module):
            roots = [path for path in targets if "." not in path]
            if roots:
                raise PlanError(
                    f"lora cannot adapt a whole pipeline component ({', '.join(roots)}); target the layers inside it.",
                    key="lora",
                )
        path = first_on_meta(model, targets[:])
        if path is not None:
            raise PlanError(
                f"lora cannot adapt {path!r}: its weights are on the meta device (not loaded), so the "
                "adapters would be too. Load real weights first, or use load_smashed to restore a saved smashed model.",
                key="lora",
            )

    # ----- doing ---------------------------------------------------------------------------------

    def apply_step(self, step: "StepInput") -> None:
        self._inject_groups(step, on_meta=False)

    def rebuild_step(self, step: "StepInput") -> None:
        self._inject_groups(step, on_meta=True)

    def _inject_groups(self, step: "StepInput", *, on_meta: bool) -> None:
        """One injection per group (its own r, alpha, dropout); then refuse merges into a changed base."""
        _refuse_gradient_blocking_bases(step)
        for group in step.groups:
            self._inject(step, group.paths, group.params, on_meta=on_meta)
        for path in step.paths:
            layer = step.get(path)
            base = step.changed_by(layer.get_base_layer())
            if base is not None:
                layer.merge = types.MethodType(_refuse_merge(base), layer)

    def _inject(self, step: "StepInput", targets: Sequence[str], params: Mapping[str, Any], *, on_meta: bool) -> None:
        from peft import LoraConfig, inject_adapter_in_model

        from smashconfig.target_modules.tree import components

        for prefix, root, paths, fan_in_fan_out in _injections(components(step.model), targets[:]):
            config = LoraConfig(
                r=params["r"],
                lora_alpha=params["alpha"],
                lora_dropout=params["dropout"],
                target_modules=exact_paths_regex(paths),
                bias="none",
                fan_in_fan_out=fan_in_fan_out,
            )
            before = _adapted(root)
            try:
                with warnings.catch_warnings():
                    # a second injection into one component (another group, or Conv1D layers) is expected
                    warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
                    # PEFT's torchao layer warns that merge() will raise; merging a quantized base is refused anyway
                    warnings.filterwarnings("ignore", message=".*instantiated without `get_apply_tensor_subclass`")
                    inject_adapter_in_model(config, root, low_cpu_mem_usage=on_meta)
            except Exception:
                # PEFT adapts modules in named_modules() order: the first one left unadapted is where it stopped
                done = _adapted(root)
                stopped = next((path for path in paths if path not in done), None)
                if stopped is not None:
                    step.progress(f"{prefix}.{stopped}" if prefix else stopped)
                raise
            adapted = _adapted(root) - before
            if adapted != set(paths):
                raise RuntimeError(
                    f"PEFT adapted {sorted(adapted - set(paths))[:5]} and missed {sorted(set(paths) - adapted)[:5]}"
                )


def _refuse_gradient_blocking_bases(step: "StepInput") -> None:
    """Refuse base layers that quantize their input on the fly (torchao's dynamic activation
    quantization): no gradient flows back through them, so the adapters before them would never train."""
    for path in step.paths:
        weight = step.get(path)._parameters.get("weight")
        if getattr(weight, "act_quant_kwargs", None) is not None:
            raise PlanError(
                f"lora cannot adapt {path!r}: its base layer quantizes its activations dynamically "
                f"({type(weight).__name__}), which passes no gradient back to its input, so the adapters of earlier "
                "layers would never train. Quantize the base weights only (torchao int8_weight_only or "
                "float8_weight_only) under LoRA.",
                key="lora",
            )


def has_adapter(module: "nn.Module") -> bool:
    """Whether ``module`` is a PEFT LoRA layer (it wraps a base layer and holds adapters)."""
    return "lora_A" in module._modules


def _adapted(root: "nn.Module") -> set:
    return {name for name, module in root.named_modules() if has_adapter(module)}


def _injections(roots: Dict[str, "nn.Module"], targets: Sequence[str]) -> List[Any]:
    """(prefix, root module, paths relative to it, fan_in_fan_out) for each injection PEFT must make.

    One per component that holds targets, split in two where it holds transformers' ``Conv1D``
    layers (weights stored transposed: PEFT needs ``fan_in_fan_out=True`` for them, and only them).
    """
    grouped: Dict[tuple, List[str]] = {}
    for path in targets:
        head, rest = ("", path) if "" in roots else tuple(path.partition(".")[::2])
        root = roots[head]
        transposed = _is_transformers_conv1d(root.get_submodule(rest))
        grouped.setdefault((head, transposed), []).append(rest)
    return [(head, roots[head], paths, transposed) for (head, transposed), paths in grouped.items()]


def _is_transformers_conv1d(module: "nn.Module") -> bool:
    """transformers' ``Conv1D`` (GPT-2 and relatives): a linear layer with its weight transposed."""
    kind = type(module)
    return kind.__name__ == "Conv1D" and kind.__module__.startswith("transformers.")


def exact_paths_regex(paths: Sequence[str]) -> str:
    """A regular expression whose full matches are exactly ``paths``.

    Built as a trie over path components, so matching one module path costs time proportional
    to its length, not to the number of paths.
    """
    trie: Dict[str, Any] = {}
    for path in paths:
        node = trie
        for part in path.split("."):
            node = node.setdefault(part, {})
        node[""] = {}
    return _trie_regex(trie)


def _trie_regex(node: Dict[str, Any]) -> str:
    alternatives = [re.escape(part) + _tail(child) for part, child in node.items() if part]
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"


def _tail(child: Dict[str, Any]) -> str:
    if not any(part for part in child):
        return ""
    inner = r"\." + _trie_regex(child)
    return f"(?:{inner})?" if "" in child else inner


def _refuse_merge(base: str) -> Any:
    """A ``merge`` that refuses: the base layer was changed by ``base`` (quantized), so it cannot hold the delta."""

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise UnsafeOperationError(
            f"refusing to merge LoRA adapters into a base layer that {base} changed: its quantized weights cannot "
            "hold the LoRA delta, so the merge would silently lose the trained adapters. Keep the adapters "
            "unmerged, or merge into a full-precision copy of the model and quantize after.",
            key="lora",
        )

    return refuse
