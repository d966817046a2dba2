"""``smashconfig smash``: smash a model, report size, time and output agreement, optionally save."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smashconfig.cli.output import out

if TYPE_CHECKING:
    import torch

    from smashconfig.config.smash_config import SmashConfig


def run_smash(args: argparse.Namespace, config: "SmashConfig") -> int:
    from smashconfig.cli.models import load_model
    from smashconfig.plan.build import plan_smash
    from smashconfig.apply.saving import check_save_directory, save_smashed, source_directories
    from smashconfig.apply.smash import smash

    overwrite = getattr(args, "overwrite", False)
    if args.output is not None:  # refused up front: an empty name, a file, a symlink, the model's own files
        check_save_directory(args.output, overwrite=overwrite, sources=[Path(args.model)])
    demo = load_model(args.model)
    if args.output is not None:
        check_save_directory(args.output, overwrite=overwrite, sources=source_directories(demo.model))
    plan = plan_smash(demo.model, config, strict=args.strict)
    calibration = [demo.inputs] if any(step.needs_calibration for step in plan.steps) else None
    reference = demo.output(demo.model)
    before = weight_bytes(demo.model)
    started = time.perf_counter()
    smash(demo.model, plan, calibration_data=calibration)
    seconds = time.perf_counter() - started
    after = weight_bytes(demo.model)
    similarity = cosine(reference, demo.output(demo.model))

    out(str(demo.model.smash_plan))
    out()
    out(f"model:   {demo.name}")
    change = f"{before / after:.2f}x smaller" if after < before else f"{after / max(before, 1):.2f}x larger"
    out(f"weights: {mib(before)} -> {mib(after)} ({change})")
    out(f"time:    {seconds:.2f} s")
    out(
        f"output check vs unsmashed (cosine similarity per sample, {similarity.numel()} samples): "
        f"min {similarity.min().item():.5f}, mean {similarity.mean().item():.5f}"
    )
    if args.output is not None:
        out(f"saved:   {save_smashed(demo.model, args.output, overwrite=overwrite)}")
    return 0


def weight_bytes(model: Any) -> int:
    """Bytes of the saved state (tied tensors counted once), as ``save_smashed`` would store it."""
    from smashconfig.apply.saving import state_tensors

    seen = set()
    total = 0
    for tensor in state_tensors(model).values():
        key = (tensor.data_ptr(), tensor.nbytes)
        if key not in seen:
            seen.add(key)
            total += tensor.nbytes
    return total


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def cosine(a: "torch.Tensor", b: "torch.Tensor") -> "torch.Tensor":
    """Cosine similarity of each sample's flattened output."""
    import torch

    return torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)
