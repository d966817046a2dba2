"""Tiny real pipelines built from configs (no download): diffusers Flux and Wan 2.2, a transformers pipeline.

The Flux transformer has the shape of the tiny random Flux that pruna's tests use (one double and
one single block: 28 Linear layers, 4 of them inside norms, 6 inside embedders).
"""

from __future__ import annotations

from typing import Any

import torch

SEED = 0


def tiny_t5_encoder(umt5: bool = False) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5EncoderModel

    config = T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8)
    return (UMT5EncoderModel if umt5 else T5EncoderModel)(config).eval()


def tiny_flux_transformer() -> Any:
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    ).eval()


WORDS = "a the cat sat on mat quantization stores weights in fewer bits low rank adapter trains small update to frozen layer"


def tiny_tokenizers() -> tuple:
    """A CLIP and a T5 tokenizer with a few dozen words, built from vocabularies written here."""
    from transformers import CLIPTokenizer, T5Tokenizer

    letters = "abcdefghijklmnopqrstuvwxyz.-"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for piece in [w + "</w>" for w in WORDS.split()] + list(letters) + [c + "</w>" for c in letters]:
        vocab.setdefault(piece, len(vocab))
    clip = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("▁" + w, -1.0) for w in WORDS.split()]
    t5 = T5Tokenizer(vocab=pieces + [(c, -5.0) for c in letters], extra_ids=0)
    return clip, t5


def tiny_flux_pipeline(tokenizers: bool = False, seed: int = SEED) -> Any:
    """A FluxPipeline with every model component built from a tiny config (tokenizers only when asked)."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    clip = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        pad_token_id=1,
        vocab_size=100,
        projection_dim=32,
    )
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
    clip_tokenizer, t5_tokenizer = tiny_tokenizers() if tokenizers else (None, None)
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae.eval(),
        text_encoder=CLIPTextModel(clip).eval(),
        tokenizer=clip_tokenizer,
        text_encoder_2=tiny_t5_encoder(),
        tokenizer_2=t5_tokenizer,
        transformer=tiny_flux_transformer(),
    )


def tiny_wan22_pipeline() -> Any:
    """A Wan 2.2-style WanPipeline: two denoisers, ``transformer`` (high noise) and ``transformer_2`` (low noise)."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(SEED)

    def transformer() -> Any:
        return WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=2,
            attention_head_dim=12,
            in_channels=16,
            out_channels=16,
            text_dim=32,
            freq_dim=256,
            ffn_dim=32,
            num_layers=2,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            rope_max_seq_len=32,
        ).eval()

    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    return WanPipeline(
        tokenizer=None,
        text_encoder=tiny_t5_encoder(umt5=True),
        vae=vae.eval(),
        scheduler=FlowMatchEulerDiscreteScheduler(),
        transformer=transformer(),
        transformer_2=transformer(),
        boundary_ratio=0.875,
    )


def tiny_gpt2() -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(SEED)
    return GPT2LMHeadModel(GPT2Config(vocab_size=100, bos_token_id=0, eos_token_id=0, n_positions=64, n_embd=32, n_layer=2, n_head=4)).eval()


def text_generation_pipeline(tie_word_embeddings: bool = False) -> Any:
    """A transformers text-generation pipeline around a tiny LlamaForCausalLM."""
    from transformers import TextGenerationPipeline

    import models

    return TextGenerationPipeline(model=models.tiny_llama(tie_word_embeddings=tie_word_embeddings), tokenizer=None)
