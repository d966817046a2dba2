"""``quanto``: weight (and optionally activation) quantization with optimum-quanto.

Each targeted ``Linear`` / ``Conv2d`` (and ``LayerNorm`` when activations are quantized) is
replaced by its quanto counterpart, calibrated when activations are quantized, then frozen so
the weights are stored quantized. Paths are handed to quanto one by one, never as patterns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from smashconfig.contract.algorithm import Algorithm
from smashconfig.contract.layers import first_on_meta
from smashconfig.errors import PlanError

if TYPE_CHECKING:
    from torch import nn

    from smashconfig.contract.step import StepInput

WEIGHT_BITS = ["qint2", "qint4", "qint8", "qfloat8"]
ACTIVATION_BITS = ["none", "qint8", "qfloat8"]


class Quanto(Algorithm):
    """optimum-quanto quantization of the targeted layers, frozen in place."""

    name = "quanto"
    group = "quantizer"
    requires = ("optimum-quanto",)
    extra = "quanto"
    backend_modules = ("optimum.quanto",)
    description = "optimum-quanto weight/activation quantization"
    supports = "Linear and Conv2d layers, and LayerNorm when activation_bits is set"
    order = 20

    def hyperparameters(self) -> List[Any]:
        from ConfigSpace import Categorical

        return [
            Categorical(
                "weight_bits", WEIGHT_BITS, default="qint8", meta={"help": "quantized type of the weights"}
            ),
            Categorical(
                "activation_bits",
                ACTIVATION_BITS,
                default="none",
                meta={"help": "quantized type of the activations ('none' keeps them in float; needs calibration data)"},
            ),
        ]

    # ----- which modules -------------------------------------------------------------------------

    def skip_reason(self, path: str, module: "nn.Module", params: Mapping[str, Any]) -> Optional[str]:
        import torch.nn as nn

        kind = type(module).__name__
        if self.is_changed(module):
            return f"{kind} is already quantized"
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            weight = module._parameters.get("weight")
            if weight is None:
                return f"{kind} has no weight"
            return None if weight.is_floating_point() else f"{kind} has non-float weights"
        if isinstance(module, nn.LayerNorm):
            if params.get("activation_bits", "none") == "none":
                return "LayerNorm is quantized by quanto only when activation_bits is set"
            return None
        if any(p.dim() == 3 for p in module._parameters.values() if p is not None):
            return f"{kind} holds fused 3-D expert weights, not Linear layers, and quanto quantizes only Linear/Conv2d layers"
        return f"{kind} is not quantizable by quanto"

    def selected_by_default(self, path: str, module: "nn.Module") -> bool:
        import torch.nn as nn

        return isinstance(module, (nn.Linear, nn.Conv2d)) and self.skip_reason(path, module, {}) is None

    def is_changed(self, module: "nn.Module") -> bool:
        """An optimum-quanto quantized module (``QLinear``, ``QConv2d``, ...), told without importing quanto."""
        attributes = module.__dict__  # quanto keeps both as plain attributes; no Module.__getattr__ fallback
        return "weight_qtype" in attributes and "activation_qtype" in attributes

    def needs_calibration(self, params: Mapping[str, Any]) -> bool:
        return params.get("activation_bits", "none") != "none"

    def check(self, model: Any, targets: Sequence[str], params: Mapping[str, Any], calibration_data: Any) -> None:
        path = first_on_meta(model, targets[:])
        if path is not None:
            raise PlanError(
                f"quanto cannot quantize {path!r}: its weights are on the meta device (not loaded). "
                "Load real weights first, or use load_smashed to restore a saved smashed model.",
                key="quanto",
            )

    # ----- doing ---------------------------------------------------------------------------------

    def apply_step(self, step: "StepInput") -> None:
        """Swap every targeted layer for its quanto counterpart (each group with its own types), calibrate
        when activations are quantized, then freeze, as optimum-quanto's ``quantize`` then ``freeze`` do.

        The original layers stay alive (for rollback); each quantized weight's tensors are moved into
        room reserved before freezing began (``ReservedResults``), so that the float temporaries of
        freezing are reused from layer to layer instead of leaving holes, and what holes remain are
        given back when they add up (``FreeMemoryReleaser``)."""
        import torch
        from optimum.quanto import Calibration

        from smashconfig.apply.calibration import run_batches
        from smashconfig.apply.memory import FreeMemoryReleaser
        from smashconfig.apply.reserved import ReservedResults

        with torch.no_grad():  # nothing here is to be differentiated; recording it would only cost time
            quantized = self._swap(step)
            if any(group.params["activation_bits"] != "none" for group in step.groups):
                with Calibration():
                    if run_batches(step.model, step.calibration_data) == 0:
                        raise ValueError(
                            "calibration_data yielded no batch, so the activation scales would stay uncalibrated; "
                            "give at least one batch"
                        )
            known: Dict[Any, Dict[str, Any]] = {}
            reserved = ReservedResults([_result_layouts(qmodule, known) for _, qmodule in quantized])
            releaser = FreeMemoryReleaser()
            for k, (path, qmodule) in enumerate(quantized):
                step.progress(path)
                weight_bytes = qmodule.weight.nbytes
                qmodule.freeze()
                releaser.processed(weight_bytes, kept=reserved.settle(k, qmodule.weight))
            step.progress(None)

    def rebuild_step(self, step: "StepInput") -> None:
        self._swap(step)

    def _swap(self, step: "StepInput") -> List[Any]:
        """Replace each targeted layer by its (unfrozen) quanto module; returns (path, module) pairs."""
        from optimum.quanto import quantize_module

        quantized = []
        for group in step.groups:
            weights = group.params["weight_bits"]
            activations = None if group.params["activation_bits"] == "none" else group.params["activation_bits"]
            for path in group.paths:
                qmodule = quantize_module(step.get(path), weights=weights, activations=activations)
                if qmodule is None:
                    raise RuntimeError(f"optimum-quanto has no quantized counterpart for {path!r}")
                qmodule.name = path
                step.replace(path, qmodule)
                quantized.append((path, qmodule))
        return quantized

    def saved_state(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> Dict[str, Any]:
        """Calibration switches off output quantization where only float consumers follow; record where."""
        from smashconfig.target_modules.tree import get_module

        return {"outputs_not_quantized": [path for path in targets if _output_quantization_off(get_module(model, path))]}

    def restore_state(self, model: Any, targets: Sequence[str], params: Mapping[str, Any], state: Dict[str, Any]) -> None:
        from smashconfig.target_modules.tree import get_module

        for path in state.get("outputs_not_quantized", []):
            get_module(model, path).disable_output_quantization()

    def saved_layout(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> Dict[str, Any]:
        """A frozen layer saves its weight as quanto's flattened parts (``weight._data``, ``weight._scale``, ...)."""
        from smashconfig.target_modules.tree import get_module

        layout: Dict[str, Any] = {}
        for path in targets:
            # a later step may have wrapped the layer (LoRA keeps it as its base_layer)
            for name, module in get_module(model, path).named_modules(prefix=path):
                if self.is_changed(module) and module.weight_qtype is not None:
                    layout[f"{name}.weight"] = None
                    parts = _frozen_weight_parts(module, name)
                    layout.update((key, (tuple(t.shape), t.dtype)) for key, t in parts.items())
        return layout


def _meta_qweight(module: "nn.Module") -> Any:
    """What freezing ``module`` would make its weight, computed on the meta device."""
    import copy

    import torch

    stand_in = copy.copy(module)  # shares everything but the weight, which becomes a meta tensor
    stand_in._parameters = dict(module._parameters)
    stand_in._parameters["weight"] = torch.nn.Parameter(torch.empty_like(module.weight, device="meta"))
    with torch.no_grad():
        return stand_in.qweight


def _frozen_weight_parts(module: "nn.Module", path: str) -> Dict[str, Any]:
    """The tensors a frozen copy of ``module`` would save for its weight, computed on the meta device."""
    parts: Dict[str, Any] = {}
    _meta_qweight(module).save_to_state_dict(parts, f"{path}.weight.", False)
    return parts


def _result_layouts(qmodule: "nn.Module", known: Dict[Any, Dict[str, Any]]) -> Dict[str, Any]:
    """How freezing ``qmodule`` will lay out its weight's inner tensors (worked out on the meta device
    once per kind of layer in ``known``); empty where that cannot be told beforehand."""
    from smashconfig.apply.reserved import inner_tensors, layout_of

    weight = qmodule.weight
    key = (
        type(qmodule), weight.shape, weight.stride(), weight.dtype, weight.device,
        qmodule.weight_qtype, qmodule.weight_group_size, qmodule.activation_qtype, type(qmodule.optimizer),
    )
    found = known.get(key)
    if found is None:
        try:
            inner = inner_tensors(_meta_qweight(qmodule))
        except Exception:  # a layout not known beforehand is only not reserved for
            inner = {}
        found = known[key] = {name: layout_of(t)[:3] + (weight.device,) for name, t in inner.items()}
    return found


def _output_quantization_off(module: "nn.Module") -> bool:
    """Whether a quanto module with quantized activations no longer quantizes its outputs."""
    if getattr(module, "activation_qtype", None) is None:
        return False
    hook = module._quantize_hooks.get("output")
    return hook is None or hook.id not in module._forward_hooks
