"""``smashconfig smash``: smash a model, report size, time and output agreement, optionally save."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Tuple

from smashconfig.cli.output import out

if TYPE_CHECKING:
    import torch

    from smashconfig.config.smash_config import SmashConfig

logger = logging.getLogger("smashconfig")


def run_smash(args: argparse.Namespace, config: "SmashConfig") -> int:
    from smashconfig.cli.models import load_model
    from smashconfig.plan.build import plan_smash
    from smashconfig.apply.saving import check_save_directory, save_smashed, source_directories
    from smashconfig.apply.sizes import weight_bytes
    from smashconfig.apply.smash import refuse_smashed, smash

    overwrite = getattr(args, "overwrite", False)
    if args.output is not None:  # refused up front: an empty name, a file, a symlink, the model's own files
        check_save_directory(args.output, overwrite=overwrite, sources=[Path(args.model)])
    demo = load_model(args.model)
    refuse_smashed(demo.model)  # a smashed directory given as --model: say so before planning
    if args.output is not None:
        check_save_directory(args.output, overwrite=overwrite, sources=source_directories(demo.model))
    plan = plan_smash(demo.model, config, strict=args.strict)
    calibration = [demo.inputs] if any(step.needs_calibration for step in plan.steps) else None
    reference, skipped = attempt(lambda: demo.output(demo.model))
    before = weight_bytes(demo.model)
    started = time.perf_counter()
    smash(demo.model, plan, calibration_data=calibration)
    seconds = time.perf_counter() - started
    after = weight_bytes(demo.model)
    check = None if reference is None else attempt(lambda: cosine(reference, demo.output(demo.model)))
    similarity, skipped = check if check is not None else (None, skipped)

    out(str(demo.model.smash_plan))
    out()
    out(f"model:   {demo.name}")
    change = f"{before / after:.2f}x smaller" if after < before else f"{after / max(before, 1):.2f}x larger"
    out(f"weights: {mib(before)} -> {mib(after)} ({change})")
    out(f"time:    {seconds:.2f} s")
    if similarity is None:
        out(f"output check skipped: {skipped}")
    else:
        out(
            f"output check vs unsmashed (cosine similarity per sample, {similarity.numel()} samples): "
            f"min {similarity.min().item():.5f}, mean {similarity.mean().item():.5f}"
        )
    if args.output is not None:
        out(f"saved:   {save_smashed(demo.model, args.output, overwrite=overwrite)}")
    return 0


def attempt(run: Callable[[], "torch.Tensor"]) -> Tuple[Optional["torch.Tensor"], str]:
    """``(result, "")``, or ``(None, why)`` in one line when running the model for the check failed.

    The output check runs the user's model on sample inputs it may not take (a pipeline without
    a tokenizer, a model that wants other inputs): that is reported, never a traceback.
    """
    from smashconfig.cli.demo import CheckSkipped

    try:
        return run(), ""
    except CheckSkipped as error:
        return None, str(error)
    except Exception as error:  # the model's own code: any failure only means no check
        logger.debug("output check failed", exc_info=True)
        lines = str(error).strip().splitlines()
        return None, f"running the model on sample inputs failed ({type(error).__name__}: {lines[0] if lines else ''})"


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def cosine(a: "torch.Tensor", b: "torch.Tensor") -> "torch.Tensor":
    """Cosine similarity of each sample's flattened output."""
    import torch

    return torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)
