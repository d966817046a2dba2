"""A reloaded smashed model computes exactly what the saved one did, and its tensors sit in memory
as tensors the model computed itself would: aligned, contiguous, each owning its storage."""

from __future__ import annotations

import pytest
import torch

from smashconfig import load_smashed, save_smashed, smash

import models
from diffusers_models import flux_image, tiny_flux
from smash_models import llama_logits, meta_llama, randomize_adapters, roots

MIXED = {"quanto": {"target_modules": {"include": ["model.layers.*.mlp.*"]}}}
"""quanto on the MLPs only: the attention projections and the head stay float ``Linear`` layers."""
QLORA_MIXED = {
    "quanto": {"target_modules": {"include": ["model.layers.*.mlp.*"]}},
    "lora": {"r": 4, "alpha": 8, "target_modules": {"include": ["model.layers.*.self_attn.q_proj", "*.down_proj"]}},
}
T5_TIED = [["text_encoder_2.encoder.embed_tokens.weight", "text_encoder_2.shared.weight"]]
FLUX = {"quanto": {"target_modules": {"include": ["transformer.*"], "exclude": ["*embed*"]}}}


def saved_tensors(model) -> dict:
    """Every tensor the model holds, quanto's inner parts included (as its state dict lists them)."""
    out = {}
    for prefix, root in roots(model).items():
        for name, tensor in root.state_dict(keep_vars=True).items():
            out[f"{prefix}.{name}" if prefix else name] = tensor
        for path, module in root.named_modules():
            for buffer in module._non_persistent_buffers_set:
                tensor = module._buffers.get(buffer)
                if tensor is not None:
                    out[".".join(p for p in (prefix, path, buffer) if p)] = tensor
    return out


def assert_fresh_allocations(model, shared=()) -> None:
    """Aligned to 64 bytes, contiguous, at the start of a storage of exactly its own size; storages
    shared only where ``shared`` says (tied weights)."""
    owners = {}
    for name, tensor in saved_tensors(model).items():
        assert not tensor.is_meta, name
        if tensor.numel() == 0:
            continue
        assert tensor.data_ptr() % 64 == 0, (name, tensor.data_ptr() % 64)
        assert tensor.is_contiguous(), name
        assert tensor.storage_offset() == 0, name
        assert tensor.untyped_storage().nbytes() == tensor.nbytes, name
        owners.setdefault(tensor.untyped_storage().data_ptr(), []).append(name)
    sharing = sorted(sorted(names) for names in owners.values() if len(names) > 1)
    assert sharing == sorted(sorted(names) for names in shared)


def test_float_layers_beside_quantized_ones_reload_bit_for_bit(tmp_path):
    saved = smash(models.tiny_llama(), MIXED)
    assert type(saved.model.layers[0].self_attn.q_proj) is torch.nn.Linear
    expected = llama_logits(saved)
    save_smashed(saved, tmp_path / "mixed")

    loaded = load_smashed(tmp_path / "mixed", meta_llama())

    assert torch.equal(llama_logits(loaded), expected)
    assert_fresh_allocations(loaded)


def test_lora_on_quanto_beside_float_layers_reloads_bit_for_bit(tmp_path):
    saved = smash(models.tiny_llama(), QLORA_MIXED)
    randomize_adapters(saved)
    expected = llama_logits(saved)
    save_smashed(saved, tmp_path / "qlora")

    loaded = load_smashed(tmp_path / "qlora", meta_llama())

    assert torch.equal(llama_logits(loaded), expected)
    assert_fresh_allocations(loaded)
    trainable = sorted(n for n, p in loaded.named_parameters() if p.requires_grad)
    assert trainable == sorted(n for n, p in saved.named_parameters() if p.requires_grad)


def test_tied_weights_stay_one_tensor_and_everything_else_owns_its_storage(tmp_path):
    saved = smash(models.tiny_llama(tie_word_embeddings=True), MIXED)
    expected = llama_logits(saved)
    save_smashed(saved, tmp_path / "tied")

    loaded = load_smashed(tmp_path / "tied", meta_llama(tie_word_embeddings=True))

    assert torch.equal(llama_logits(loaded), expected)
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    assert_fresh_allocations(loaded, shared=[["lm_head.weight", "model.embed_tokens.weight"]])


@pytest.fixture(scope="module")
def saved_flux(tmp_path_factory):
    directory = tmp_path_factory.mktemp("flux") / "smashed"
    pipe = smash(tiny_flux(), FLUX)
    assert type(pipe.transformer.x_embedder) is torch.nn.Linear  # float layers beside quantized ones
    assert type(pipe.transformer.proj_out).__name__ == "QLinear"
    expected = flux_image(pipe)
    save_smashed(pipe, directory)
    return directory, expected


def test_a_diffusers_pipeline_reloads_bit_for_bit_onto_a_meta_pipeline(saved_flux):
    directory, expected = saved_flux

    loaded = load_smashed(directory, tiny_flux("meta"))

    assert torch.equal(flux_image(loaded), expected)
    assert_fresh_allocations(loaded, shared=T5_TIED)
    assert loaded.text_encoder_2.shared.weight is loaded.text_encoder_2.encoder.embed_tokens.weight


def test_a_diffusers_pipeline_is_rebuilt_from_the_directory_alone(saved_flux):
    from diffusers import FluxPipeline

    directory, expected = saved_flux

    loaded = load_smashed(directory)

    assert type(loaded) is FluxPipeline
    assert loaded.tokenizer is None and loaded.tokenizer_2 is None  # not saved: no vocabulary files here
    assert torch.equal(flux_image(loaded), expected)
    assert loaded.smash_plan.steps[0].acted
    assert_fresh_allocations(loaded, shared=T5_TIED)


def test_a_transformers_model_is_rebuilt_from_the_directory_alone(tmp_path):
    saved = smash(models.tiny_llama(tie_word_embeddings=True), QLORA_MIXED)
    randomize_adapters(saved)
    expected = llama_logits(saved)
    save_smashed(saved, tmp_path / "llama")

    loaded = load_smashed(tmp_path / "llama")

    assert type(loaded) is type(saved)
    assert loaded.config.to_dict() == saved.config.to_dict()
    assert not loaded.training
    assert torch.equal(llama_logits(loaded), expected)
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight


def test_a_bfloat16_model_is_rebuilt_in_bfloat16(tmp_path):
    saved = smash(models.tiny_llama().to(torch.bfloat16), MIXED)
    expected = llama_logits(saved)
    save_smashed(saved, tmp_path / "bf16")

    loaded = load_smashed(tmp_path / "bf16")

    assert loaded.model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    assert torch.equal(llama_logits(loaded), expected)
