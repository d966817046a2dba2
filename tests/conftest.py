from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import models  # noqa: E402

REPO = TESTS.parent


@pytest.fixture
def tiny_llama():
    return models.tiny_llama()


@pytest.fixture
def tiny_llama_tied():
    return models.tiny_llama(tie_word_embeddings=True)


@pytest.fixture
def smollm_meta():
    return models.smollm_meta()


@pytest.fixture
def tiny_bert():
    return models.tiny_bert()


@pytest.fixture
def sequential():
    return models.sequential()


@pytest.fixture
def pipeline():
    return models.pipeline()


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def recorded_models(monkeypatch):
    """Every demo model the command line loads, kept so the test can look at it afterwards."""
    loaded = []
    from smashconfig.cli import models as demo_models

    real = demo_models.load_model

    def load_model(spec):
        demo = real(spec)
        loaded.append(demo)
        return demo

    monkeypatch.setattr(demo_models, "load_model", load_model)
    return loaded
