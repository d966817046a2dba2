from __future__ import annotations

import pytest
import torch

from smashconfig import load_smashed, save_smashed, smash

import models
from smash_models import llama_ids, llama_logits, meta_llama


@pytest.mark.slow
@pytest.mark.parametrize("bits, floor", [("qint4", 0.97), ("qint2", 0.7)])
def test_low_bit_weights_forward_and_round_trip(tmp_path, bits, floor):
    from optimum.quanto import QLinear

    ids = llama_ids(batch=4, length=16)
    reference = llama_logits(models.tiny_llama(), ids)
    smashed = smash(models.tiny_llama(), {"quanto": {"weight_bits": bits}, "lora": {"r": 2}})

    out = llama_logits(smashed, ids)

    assert torch.isfinite(out).all()
    assert not torch.equal(out, reference)
    similarity = torch.nn.functional.cosine_similarity(out.flatten(1), reference.flatten(1), dim=1)
    assert similarity.min().item() >= floor
    base = smashed.model.layers[0].self_attn.q_proj.get_base_layer()
    assert isinstance(base, QLinear) and base.weight_qtype.name == bits

    save_smashed(smashed, tmp_path)
    loaded = load_smashed(tmp_path, meta_llama())
    max_abs_difference = (llama_logits(loaded, ids) - out).abs().max().item()
    assert max_abs_difference == 0
