"""A tiny Flux pipeline built from configs with diffusers (no download), and a way to run it.

Its tokenizers are left out (they need vocabulary files): the pipeline is run on given prompt
embeddings, which is what it would compute from a prompt.
"""

from __future__ import annotations

from typing import Any, Optional

import torch


def tiny_flux(device: Optional[str] = None, seed: int = 0) -> Any:
    """A FluxPipeline with a one-block transformer, small CLIP and T5 encoders and a one-level VAE."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    with torch.device(device or "cpu"):
        transformer = FluxTransformer2DModel(
            patch_size=1,
            in_channels=4,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            axes_dims_rope=[4, 4, 8],
        )
        clip = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=32,
                intermediate_size=37,
                num_attention_heads=4,
                num_hidden_layers=2,
                vocab_size=1000,
                projection_dim=32,
            )
        )
        t5 = T5EncoderModel(T5Config(vocab_size=1000, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4))
        vae = AutoencoderKL(
            sample_size=32,
            in_channels=3,
            out_channels=3,
            block_out_channels=(4,),
            layers_per_block=1,
            latent_channels=1,
            norm_num_groups=1,
            use_quant_conv=False,
            use_post_quant_conv=False,
            shift_factor=0.0609,
            scaling_factor=1.5035,
        )
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=clip,
        tokenizer=None,
        text_encoder_2=t5,
        tokenizer_2=None,
        transformer=transformer,
    )
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
