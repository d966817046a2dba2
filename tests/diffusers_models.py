"""The tiny Flux pipeline of ``pipelines.py`` on any device, and a way to run it.

It is run on given prompt embeddings (what it would compute from a prompt), so it needs no tokenizers.
"""

from __future__ import annotations

from typing import Any, Optional

import torch


def tiny_flux(device: Optional[str] = None, seed: int = 0) -> Any:
    """:func:`pipelines.tiny_flux_pipeline` built on ``device`` (``"meta"``: the structure, no values)."""
    from pipelines import tiny_flux_pipeline

    with torch.device(device or "cpu"):
        pipe = tiny_flux_pipeline(seed=seed)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def flux_image(pipe: Any) -> torch.Tensor:
    """The 8x8 image ``pipe`` generates in two steps from fixed prompt embeddings and a fixed seed."""
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(1, 8, 32, generator=generator)
    pooled = torch.randn(1, 32, generator=generator)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        return pipe(
            prompt_embeds=embeddings,
            pooled_prompt_embeds=pooled,
            num_inference_steps=2,
            height=8,
            width=8,
            output_type="pt",
            generator=torch.Generator().manual_seed(0),
        ).images
