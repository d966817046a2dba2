"""``quanto``: weight (and optionally activation) quantization with optimum-quanto.

Each targeted ``Linear`` / ``Conv2d`` (and ``LayerNorm`` when activations are quantized) is
replaced by its quanto counterpart, calibrated when activations are quantized, then frozen so
the weights are stored quantized. Paths are handed to quanto one by one, never as patterns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Sequence

from smashconfig.contract.algorithm import Algorithm
from smashconfig.errors import PlanError
from smashconfig.contract.layers import first_on_meta, is_adapter_internal, is_quantized

if TYPE_CHECKING:
    from torch import nn

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
        if is_adapter_internal(path):
            return "part of a LoRA adapter"
        if is_quantized(module):
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
        return f"{kind} is not quantizable by quanto"

    def selected_by_default(self, path: str, module: "nn.Module") -> bool:
        import torch.nn as nn

        return isinstance(module, (nn.Linear, nn.Conv2d)) and self.skip_reason(path, module, {}) is None

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

    def apply(
        self,
        model: Any,
        targets: Sequence[str],
        params: Mapping[str, Any],
        *,
        calibration_data: Optional[Iterable[Any]] = None,
    ) -> None:
        import torch
        from optimum.quanto import Calibration, quantize_module

        from smashconfig.apply.calibration import run_batches
        from smashconfig.apply.memory import FreeMemoryReleaser
        from smashconfig.target_modules.tree import ModuleSlots

        weights = params["weight_bits"]
        activations = None if params["activation_bits"] == "none" else params["activation_bits"]
        slots = ModuleSlots(model)
        # the originals stay alive for rollback: give back the heap holes quantization leaves behind
        releaser = FreeMemoryReleaser()
        unfrozen = []
        with torch.no_grad():  # nothing here is to be differentiated; recording it would only cost time
            for path in targets:
                original = slots.get(path)
                qmodule = quantize_module(original, weights=weights, activations=activations)
                if qmodule is None:
                    raise RuntimeError(f"optimum-quanto has no quantized counterpart for {path!r}")
                qmodule.name = path
                slots.set(path, qmodule)
                if activations is None:  # weights alone: freeze at once, as quantize() then freeze() would
                    qmodule.freeze()
                    releaser.processed(_weight_bytes(original))
                else:  # activations: freeze only after calibration has seen every module quantized
                    unfrozen.append(qmodule)
            if activations is not None:
                with Calibration():
                    if run_batches(model, calibration_data) == 0:
                        raise ValueError(
                            "calibration_data yielded no batch, so the activation scales would stay uncalibrated; "
                            "give at least one batch"
                        )
                tracked = getattr(targets, "working_on", None)
                for path, qmodule in zip(targets[:], unfrozen):
                    if tracked is not None:
                        tracked(path)
                    weight_bytes = _weight_bytes(qmodule)
                    qmodule.freeze()
                    releaser.processed(weight_bytes)
                if tracked is not None:
                    tracked(None)

    def rebuild(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> None:
        from optimum.quanto import quantize_module

        from smashconfig.target_modules.tree import ModuleSlots

        activations = None if params["activation_bits"] == "none" else params["activation_bits"]
        slots = ModuleSlots(model)
        for path in targets:
            qmodule = quantize_module(slots.get(path), weights=params["weight_bits"], activations=activations)
            qmodule.name = path
            slots.set(path, qmodule)

    def saved_state(self, model: Any, targets: Sequence[str], params: Mapping[str, Any]) -> Dict[str, Any]:
        """Calibration switches off output quantization where only float consumers follow; record where."""
        from smashconfig.target_modules.tree import get_module

        return {"outputs_not_quantized": [path for path in targets if _output_quantization_off(get_module(model, path))]}

    def restore_state(self, model: Any, targets: Sequence[str], params: Mapping[str, Any], state: Dict[str, Any]) -> None:
        from smashconfig.target_modules.tree import get_module

        for path in state.get("outputs_not_quantized", []):
            get_module(model, path).disable_output_quantization()


def _weight_bytes(module: "nn.Module") -> int:
    weight = module._parameters.get("weight")
    return 0 if weight is None else weight.numel() * weight.element_size()


def _output_quantization_off(module: "nn.Module") -> bool:
    """Whether a quanto module with quantized activations no longer quantizes its outputs."""
    if getattr(module, "activation_qtype", None) is None:
        return False
    hook = module._quantize_hooks.get("output")
    return hook is None or hook.id not in module._forward_hooks
