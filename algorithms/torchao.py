"""``torchao``: PyTorch-native weight (and dynamic activation) quantization with torchao.

Each targeted ``Linear`` keeps its class; torchao's ``quantize_`` replaces its weight by a
quantized tensor subclass, with a ``filter_fn`` that selects exactly the resolved paths. Fused
MoE experts (transformers' 3-D expert weights) are quantized parameter by parameter through
``FqnToConfig`` where their forward runs with the quantized tensors on CPU (see
:mod:`.torchao_types`). The state dict holds plain component tensors (:mod:`.torchao_state`),
so a smashed model saves as safetensors and reloads bit for bit, also onto a meta model.

Offered on this platform: ``int8_weight_only`` (per row, per tensor or per group),
``int8_dynamic_activation_int8_weight`` and ``float8_weight_only``. Not offered, with the
reason in :data:`.torchao_types.UNAVAILABLE`: int4 weight-only and float8 dynamic activation
(CUDA kernels), static activation (calibration), intx weight-only (stored unpacked, no smaller).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from smashconfig.algorithms.torchao_state import install_model_state_hooks, install_state_hooks, is_tensor_subclass
from smashconfig.algorithms.torchao_types import (
    ACT_MAPPINGS,
    GRANULARITIES,
    GROUP_SIZES,
    INT8_DYNAMIC,
    INT8_WEIGHT_ONLY,
    QUANT_TYPES,
    UNAVAILABLE,
    experts_skip_reason,
    torchao_config,
)
from smashconfig.contract.algorithm import Algorithm
from smashconfig.errors import PlanError

if TYPE_CHECKING:
    from torch import nn

    from smashconfig.apply.memory import FreeMemoryReleaser
    from smashconfig.contract.step import StepInput

RELEASE_SLACK_BYTES = 16 * 1024 * 1024
"""Growth of a step beyond its start that is tolerated before free heap memory is given back."""
SUPPORTED = "Linear layers, and fused MoE experts (3-D weights) where their CPU forward runs quantized"


class TorchAO(Algorithm):
    """torchao quantization of the targeted layers' weights, in place."""

    name = "torchao"
    group = "quantizer"
    requires = ("torchao",)
    extra = "torchao"
    backend_modules = ("torchao.quantization",)
    description = "torchao weight / dynamic activation quantization (PyTorch-native)"
    supports = SUPPORTED
    order = 20

    def hyperparameters(self) -> List[Any]:
        from ConfigSpace import Categorical

        return [
            Categorical(
                "quant_type",
                QUANT_TYPES,
                default=INT8_WEIGHT_ONLY,
                meta={"help": "torchao quantization type (those that run on CPU)", "unavailable": dict(UNAVAILABLE)},
            ),
            Categorical(
                "granularity",
                GRANULARITIES,
                default="per_row",
                meta={"help": "int8_weight_only: one scale per output row, per tensor, or per group of inputs"},
            ),
            Categorical(
                "group_size", GROUP_SIZES, default=128, meta={"help": "inputs per scale when granularity is per_group"}
            ),
            Categorical(
                "act_mapping",
                ACT_MAPPINGS,
                default="symmetric",
                meta={"help": "int8_dynamic_activation_int8_weight: how activations map to int8"},
            ),
        ]

    def conditions(self) -> List[Any]:
        from ConfigSpace import EqualsCondition

        hps = {hp.name: hp for hp in self.hyperparameters()}
        return [
            EqualsCondition(hps["granularity"], hps["quant_type"], INT8_WEIGHT_ONLY),
            EqualsCondition(hps["group_size"], hps["granularity"], "per_group"),
            EqualsCondition(hps["act_mapping"], hps["quant_type"], INT8_DYNAMIC),
        ]

    # ----- which modules -------------------------------------------------------------------------

    def skip_reason(self, path: str, module: "nn.Module", params: Mapping[str, Any]) -> Optional[str]:
        import torch.nn as nn

        if self.is_changed(module):
            return f"{type(module).__name__} is already quantized"
        kind = type(module).__name__
        if isinstance(module, nn.Linear):
            if isinstance(module, nn.modules.linear.NonDynamicallyQuantizableLinear):
                return f"{kind} is read directly by MultiheadAttention, which torchao does not quantize"
            weight = module._parameters.get("weight")
            if weight is None:
                return f"{kind} has no weight"
            return None if weight.is_floating_point() else f"{kind} has non-float weights"
        expert_weights = _expert_weights(module)
        if expert_weights:
            return experts_skip_reason(kind, _experts_implementation(module), params.get("quant_type", INT8_WEIGHT_ONLY))
        return f"{kind} is not quantized by torchao (it quantizes {SUPPORTED})"

    def selected_by_default(self, path: str, module: "nn.Module") -> bool:
        """Linear layers, and fused experts that some offered quant type runs (a skip then names why)."""
        import torch.nn as nn

        if isinstance(module, nn.Linear):
            return self.skip_reason(path, module, {}) is None
        if _expert_weights(module):
            return any(self.skip_reason(path, module, {"quant_type": q}) is None for q in QUANT_TYPES)
        return False

    def is_changed(self, module: "nn.Module") -> bool:
        """A module holding a torchao quantized tensor (``Int8Tensor``, ``Float8Tensor``, ...), told without importing torchao."""
        for p in module._parameters.values():
            if p is not None and type(p).__module__.startswith("torchao."):
                return True
        return False

    # ----- checks before anything changes ---------------------------------------------------------

    def check(self, model: Any, targets: Sequence[str], params: Mapping[str, Any], calibration_data: Any) -> None:
        from smashconfig.target_modules.tree import index_modules

        index = index_modules(model)
        per_group = params.get("quant_type") == INT8_WEIGHT_ONLY and params.get("granularity") == "per_group"
        for path in targets[:]:
            for name, weight in _quantized_parameters(index.module(path)):
                if weight.is_meta:
                    raise PlanError(
                        f"torchao cannot quantize {path}.{name}: it is on the meta device (not loaded). "
                        "Load real weights first, or use load_smashed to restore a saved smashed model.",
                        key="torchao",
                    )
                if per_group and weight.shape[-1] % params["group_size"]:
                    fits = [g for g in GROUP_SIZES if weight.shape[-1] % g == 0]
                    raise PlanError(
                        f"torchao_group_size = {params['group_size']} does not divide the {weight.shape[-1]} inputs "
                        f"of {path}.{name}; group sizes that fit it: {fits or 'none (use per_row)'}",
                        key="torchao_group_size",
                    )

    # ----- doing ---------------------------------------------------------------------------------

    def apply(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> None:
        import torch

        with torch.no_grad():  # nothing here is to be differentiated
            self._quantize(model, targets, params)

    def apply_step(self, step: "StepInput") -> None:
        """Each group of modules with its own quantization type, reporting the module being quantized."""
        import torch

        from smashconfig.apply.memory import FreeMemoryReleaser

        # the originals stay alive for rollback: the holes between them are given back once they add up to
        # 16 MiB (quantize_'s temporaries are not reserved for, so holes come sooner than with quanto)
        releaser = FreeMemoryReleaser(slack_bytes=RELEASE_SLACK_BYTES)
        with torch.no_grad():
            for group in step.groups:
                self._quantize(step.model, group.paths, group.params, step.progress, releaser)

    def rebuild(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> None:
        """Quantize meta stand-ins of the weights from the same config: the structure, no values."""
        import torch
        from torch import nn

        from smashconfig.target_modules.tree import index_modules

        index = index_modules(model)
        for path in targets[:]:
            module = index.module(path)
            for name, weight in _quantized_parameters(module):
                module._parameters[name] = nn.Parameter(torch.empty_like(weight, device="meta"), requires_grad=False)
        self._quantize(model, targets, params)

    def _quantize(
        self,
        model: Any,
        targets: Sequence[str],
        params: Mapping[str, Any],
        track: Optional[Callable[[Optional[str]], None]] = None,
        releaser: Optional["FreeMemoryReleaser"] = None,
    ) -> None:
        """One ``quantize_`` per model (per component of a pipeline), its ``filter_fn`` selecting exactly
        ``targets``; fused experts found among them are quantized parameter by parameter after.
        ``releaser`` is told the bytes of each weight about to be quantized."""
        from torchao.quantization import FqnToConfig, quantize_

        from smashconfig.target_modules.tree import components

        config = torchao_config(params)
        roots = components(model)
        wanted: Dict[str, set] = {}
        for path in targets[:]:
            head, rest = ("", path) if "" in roots else tuple(path.partition(".")[::2])
            wanted.setdefault(head, set()).add(rest)
        experts: List[Tuple[str, "nn.Module"]] = []
        for head, paths in wanted.items():

            def selected(module: "nn.Module", fqn: str, paths: set = paths, head: str = head) -> bool:
                if fqn not in paths:
                    return False
                path = f"{head}.{fqn}" if head else fqn
                if _expert_weights(module):
                    experts.append((path, module))
                    return False
                if track is not None:
                    track(path)
                if releaser is not None:
                    releaser.processed(sum(w.nbytes for _, w in _quantized_parameters(module)))
                return True

            install_model_state_hooks(roots[head])
            quantize_(roots[head], config, filter_fn=selected)
        for path, module in experts:
            if track is not None:
                track(path)
            install_state_hooks(module)
            quantize_(module, FqnToConfig({name: config for name, _ in _expert_weights(module)}), filter_fn=None)
        if track is not None:
            track(None)


def _expert_weights(module: "nn.Module") -> List[Tuple[str, Any]]:
    """The 3-D float parameters of a transformers fused-experts module (none for other modules)."""
    if _experts_implementation(module) is None:
        return []
    return [
        (name, p)
        for name, p in module._parameters.items()
        if p is not None and p.dim() == 3 and p.is_floating_point() and not is_tensor_subclass(p)
    ]


def _experts_implementation(module: "nn.Module") -> Optional[str]:
    """transformers' experts implementation for a fused-experts module (``eager``, ``grouped_mm``, ...)."""
    config = module.__dict__.get("config")
    return getattr(config, "_experts_implementation", None) if config is not None else None


def _quantized_parameters(module: "nn.Module") -> List[Tuple[str, Any]]:
    """The parameters torchao replaces in ``module``: its expert weights, or a Linear's ``weight``."""
    experts = _expert_weights(module)
    if experts:
        return experts
    weight = module._parameters.get("weight")
    return [("weight", weight)] if weight is not None else []
