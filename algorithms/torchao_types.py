"""The torchao quantization types offered on this platform, and why the others are not.

Each offered type maps to a torchao 0.18 workflow config built from the algorithm's
hyperparameters. Checked on CPU with torch 2.13: every offered type runs a ``Linear`` forward
in float32 and bfloat16. What does not run here is listed in :data:`UNAVAILABLE` with the
reason, which the error for such a value repeats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Mapping

if TYPE_CHECKING:
    from torchao.core.config import AOBaseConfig

INT8_WEIGHT_ONLY = "int8_weight_only"
INT8_DYNAMIC = "int8_dynamic_activation_int8_weight"
FLOAT8_WEIGHT_ONLY = "float8_weight_only"
QUANT_TYPES = [INT8_WEIGHT_ONLY, INT8_DYNAMIC, FLOAT8_WEIGHT_ONLY]

GRANULARITIES = ["per_row", "per_tensor", "per_group"]
GROUP_SIZES = [32, 64, 128, 256]
ACT_MAPPINGS = ["symmetric", "asymmetric"]

UNAVAILABLE: Dict[str, str] = {
    "int4_weight_only": "torchao's Int4WeightOnlyConfig needs the mslk kernels (CUDA), which this CPU platform lacks",
    "float8_dynamic_activation_float8_weight": (
        "torchao's Float8DynamicActivationFloat8WeightConfig needs a CUDA GPU of compute capability 8.9 or newer, "
        "an MI300 or an XPU"
    ),
    "float8_dynamic_activation_int4_weight": "torchao's Float8DynamicActivationInt4WeightConfig needs CUDA int4 kernels",
    "int8_static_activation_int8_weight": "static activation scales need calibration, which this algorithm does not run",
    "intx_weight_only": (
        "torchao's IntxWeightOnlyConfig stores int1-int7 weights unpacked, one byte each, so on CPU it is no "
        "smaller than int8_weight_only"
    ),
}
"""torchao types left out on this platform → why (repeated by the error for such a value)."""

EXPERTS_IMPLEMENTATIONS: Dict[str, FrozenSet[str]] = {
    INT8_WEIGHT_ONLY: frozenset({"eager"}),
    INT8_DYNAMIC: frozenset({"eager"}),
    FLOAT8_WEIGHT_ONLY: frozenset({"eager", "grouped_mm"}),
}
"""For fused MoE experts (3-D weights): the transformers experts implementations whose CPU forward
runs with each type's quantized tensors (``grouped_mm`` transposes the weights, which torchao's
``Int8Tensor`` does not implement; ``batched_mm`` indexes and ``bmm``-s them, which neither type does)."""

MISSING_OPS: Dict[str, str] = {
    "grouped_mm": "transposes the expert weights (aten.transpose), which torchao's Int8Tensor does not implement",
    "batched_mm": "indexes and bmm-s the expert weights (aten.index, aten.bmm), which torchao's quantized tensors do not implement",
}

TENSOR_TYPES = {INT8_WEIGHT_ONLY: "Int8Tensor", INT8_DYNAMIC: "Int8Tensor", FLOAT8_WEIGHT_ONLY: "Float8Tensor"}


def torchao_config(params: Mapping[str, Any]) -> "AOBaseConfig":
    """The torchao workflow config for ``params`` (``quant_type`` and the parameters it takes).

    ``set_inductor_config`` is off: it would change ``torch._inductor``'s global settings for
    the whole process, and nothing here compiles.
    """
    from torchao.quantization import (
        Float8WeightOnlyConfig,
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
    )
    from torchao.quantization.granularity import PerGroup, PerRow, PerTensor
    from torchao.quantization.quant_primitives import MappingType

    quant_type = params["quant_type"]
    if quant_type == INT8_WEIGHT_ONLY:
        granularity = params.get("granularity") or "per_row"
        chosen: Any = {"per_row": PerRow(), "per_tensor": PerTensor()}.get(granularity)
        if granularity == "per_group":
            chosen = PerGroup(params["group_size"])
        return Int8WeightOnlyConfig(granularity=chosen, set_inductor_config=False)
    if quant_type == INT8_DYNAMIC:
        mapping = MappingType.ASYMMETRIC if params.get("act_mapping") == "asymmetric" else MappingType.SYMMETRIC
        return Int8DynamicActivationInt8WeightConfig(act_mapping_type=mapping, set_inductor_config=False)
    if quant_type == FLOAT8_WEIGHT_ONLY:
        return Float8WeightOnlyConfig(set_inductor_config=False)
    raise ValueError(f"unknown torchao quant_type {quant_type!r}; the types are {', '.join(QUANT_TYPES)}")


def experts_skip_reason(kind: str, implementation: Any, quant_type: str) -> Any:
    """Why fused experts of class ``kind`` run with ``implementation`` cannot take ``quant_type``, or ``None``."""
    allowed = EXPERTS_IMPLEMENTATIONS.get(quant_type, frozenset())
    if implementation in allowed:
        return None
    tensor = TENSOR_TYPES.get(quant_type, "torchao")
    why = MISSING_OPS.get(str(implementation), "is not an implementation torchao's quantized tensors are known to run")
    others = [q for q, impls in EXPERTS_IMPLEMENTATIONS.items() if implementation in impls]
    fix = f"use quant_type {' or '.join(others)}, or " if others else ""
    return (
        f"{kind} holds 3-D expert weights that torchao's {tensor} ({quant_type}) cannot run on CPU with "
        f"experts implementation {implementation!r}: it {why}; {fix}"
        f"load the model with experts_implementation={sorted(allowed)[0]!r}"
    )
