"""Small models built from configurations, shared by tests and benchmarks.

Import as ``from models import ...``: tests/conftest.py puts this folder on ``sys.path``;
other scripts can do the same with ``sys.path.insert(0, "tests")``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

SEED = 0


def llama_config(**overrides: Any) -> Any:
    from transformers import LlamaConfig

    settings = dict(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    settings.update(overrides)
    return LlamaConfig(**settings)


def tiny_llama(tie_word_embeddings: bool = False, num_hidden_layers: int = 2, seed: int = SEED) -> nn.Module:
    """A LlamaForCausalLM with hidden size 64 and vocabulary 128, in eval mode."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(
        llama_config(tie_word_embeddings=tie_word_embeddings, num_hidden_layers=num_hidden_layers)
    )
    return model.eval()


def smollm_config() -> Any:
    """The configuration of SmolLM2-135M."""
    return llama_config(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
        tie_word_embeddings=True,
    )


def smollm_meta() -> nn.Module:
    """A SmolLM2-135M-shaped LlamaForCausalLM whose weights live on the meta device."""
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(smollm_config())
    return model.eval()


def tiny_bert(seed: int = SEED) -> nn.Module:
    """A BertModel (no head) with two layers and hidden size 32, in eval mode."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    return BertModel(config).eval()


def sequential(seed: int = SEED) -> nn.Sequential:
    """Linear(8, 16) → ReLU → Linear(16, 4)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval()


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.attn = nn.Linear(width, width)
        self.ff = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.ff(torch.relu(self.attn(x))))


class Transformer(nn.Module):
    """A denoiser-like component: embedding Linear, repeated blocks, ``proj_out``."""

    def __init__(self, width: int = 8, depth: int = 2) -> None:
        super().__init__()
        self.proj_in = nn.Linear(width, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.proj_out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj_in(x)
        for block in self.blocks:
            x = block(x)
        return self.proj_out(x)


class TextEncoder(nn.Module):
    def __init__(self, vocab: int = 16, width: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.fc = nn.Linear(width, width)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(ids))


class VAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Conv2d(3, 4, kernel_size=3, padding=1)
        self.decoder = nn.Conv2d(4, 3, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class Pipeline:
    """A diffusers-style pipeline: a plain object whose attributes are modules."""

    def __init__(self, transformer: nn.Module, text_encoder: nn.Module, vae: nn.Module) -> None:
        self.transformer = transformer
        self.text_encoder = text_encoder
        self.vae = vae
        self.scheduler = SimpleNamespace(steps=4)
        self.name = "toy-pipeline"


def pipeline(seed: int = SEED) -> Pipeline:
    """A pipeline with a ``transformer`` (blocks of Linear, ``proj_out``), a ``text_encoder`` and a ``vae``."""
    torch.manual_seed(seed)
    return Pipeline(Transformer(), TextEncoder(), VAE())


class ConvNet(nn.Module):
    """A custom module with convolutions, a Linear classifier and a normalisation layer."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, kernel_size=3)
        self.body = nn.Sequential(nn.Conv2d(4, 4, kernel_size=3), nn.BatchNorm2d(4), nn.ReLU())
        self.classifier = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(self.stem(x)).mean(dim=(2, 3)))


class TiedLM(nn.Module):
    """A custom language model whose output Linear (not called lm_head) shares the embedding's weight."""

    def __init__(self, vocab: int = 32, width: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.hidden = nn.Linear(width, width)
        self.decoder = nn.Linear(width, vocab, bias=False)
        self.decoder.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.relu(self.hidden(self.embed(ids))))


class HeadedModel(nn.Module):
    """A custom model with a top-level ``lm_head`` that is not tied and no ``get_output_embeddings``."""

    def __init__(self, width: int = 8, vocab: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        self.lm_head = nn.Linear(width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.body(x))


def leaf_paths(model: Any, *types: type, under: str = "") -> list:
    """Paths of the modules of ``model`` that are instances of ``types``, computed from ``named_modules``.

    For a pipeline-like object, each ``nn.Module`` attribute contributes its own paths prefixed
    with the attribute name. ``under`` keeps only paths in that component.
    """
    if isinstance(model, nn.Module):
        roots = {"": model}
    else:
        roots = {k: v for k, v in vars(model).items() if isinstance(v, nn.Module)}
    out = []
    for prefix, root in roots.items():
        for name, module in root.named_modules():
            path = ".".join(p for p in (prefix, name) if p)
            if path and isinstance(module, types) and (not under or path == under or path.startswith(under + ".")):
                out.append(path)
    return out
