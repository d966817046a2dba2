"""What a saved model was, so that ``load_smashed(directory)`` can build it again without the user.

A transformers model is recorded by its class name and ``config.to_dict()``; a diffusers model
or scheduler by its class name and config; a diffusers pipeline by its class and each
component. Building uses only classes that the transformers or diffusers package exports (of
the right base class), on the meta device: the saved tensors fill it afterwards.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Optional

from smashconfig.errors import MissingBackendError, SavedModelError

logger = logging.getLogger("smashconfig")

LIBRARIES = ("transformers", "diffusers")


def describe_model(model: Any) -> Optional[Dict[str, Any]]:
    """A JSON description from which :func:`build_model` rebuilds ``model`` unsmashed, or ``None``."""
    library = _library(model)
    if library == "diffusers" and hasattr(model, "components") and not _is_module(model):
        components = {name: _describe_part(value) for name, value in dict(model.components).items()}
        return {"library": library, "class": type(model).__name__, "components": components}
    return _describe_part(model)


def _describe_part(value: Any) -> Optional[Dict[str, Any]]:
    library = _library(value)
    if library is None or value is None:
        return None
    kind = type(value).__name__
    if library == "transformers" and _is_module(value) and hasattr(value, "config"):
        return {"library": library, "class": kind, "config": json.loads(value.config.to_json_string()), "dtype": _dtype(value)}
    if library == "diffusers" and hasattr(value, "to_json_string"):
        described = {"library": library, "class": kind, "config": json.loads(value.to_json_string())}
        if _is_module(value):
            described["dtype"] = _dtype(value)
        return described
    return {"library": library, "class": kind, "saved": False}


def build_model(description: Any, source: str) -> Any:
    """The unsmashed model ``description`` names, built from its config on the meta device."""
    if not isinstance(description, dict):
        raise SavedModelError(
            f"{source} was saved from a model that cannot be rebuilt from its config (neither a transformers "
            "nor a diffusers model or pipeline); pass the unsmashed model: load_smashed(directory, model).",
            key="model",
        )
    if "components" in description:
        return _build_pipeline(description, source)
    return _build_part(description, source)


def _build_pipeline(description: Dict[str, Any], source: str) -> Any:
    pipeline_class = _class(description, source, "DiffusionPipeline")
    components = description["components"]
    if not isinstance(components, dict):
        raise SavedModelError(f"{source}: the pipeline's components are not a mapping.", key="components")
    built = {name: None if part is None else _build_part(part, f"{source} ({name})") for name, part in components.items()}
    unsaved = sorted(name for name, part in components.items() if isinstance(part, dict) and part.get("saved") is False)
    if unsaved:
        logger.warning(
            "%s: %s not saved (only modules and configs are); they are None: set them before use", source, ", ".join(unsaved)
        )
    try:
        return pipeline_class(**{name: value for name, value in built.items() if not _unsaved(components[name])})
    except (TypeError, ValueError) as error:
        raise SavedModelError(f"{source}: cannot build {pipeline_class.__name__} from its components: {error}") from None


def _build_part(description: Dict[str, Any], source: str) -> Any:
    import torch

    if _unsaved(description):
        return None
    library = description.get("library")
    config = description.get("config")
    if not isinstance(config, dict):
        raise SavedModelError(f"{source}: the saved model has no config to build it from.", key="config")
    if library == "transformers":
        cls = _class(description, source, "PreTrainedModel")
        try:
            with torch.device("meta"):
                model = cls(cls.config_class.from_dict(config))
        except Exception as error:
            raise SavedModelError(f"{source}: cannot build {cls.__name__} from its saved config: {error}") from None
    else:
        cls = _class(description, source, "ConfigMixin")
        try:
            with torch.device("meta"):
                model = cls.from_config(config)
        except Exception as error:
            raise SavedModelError(f"{source}: cannot build {cls.__name__} from its saved config: {error}") from None
    dtype = description.get("dtype")
    if _is_module(model):
        if isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype) and _dtype(model) != dtype:
            model = model.to(getattr(torch, dtype))
        model.eval()
    return model


def _class(description: Dict[str, Any], source: str, base: str) -> Any:
    """A class the transformers or diffusers package exports by name, derived from ``base`` there."""
    import importlib

    library, name = description.get("library"), description.get("class")
    if library not in LIBRARIES or not isinstance(name, str) or not name.isidentifier():
        raise SavedModelError(f"{source}: {str(library)[:40]}.{str(name)[:60]} is not a model class smashconfig builds.")
    try:
        package = importlib.import_module(library)
    except ImportError:
        raise MissingBackendError(f"{source} holds a {library} model; install {library} to load it.", key=library) from None
    cls = getattr(package, name, None)
    base_class = getattr(package, base, None)
    if not (isinstance(cls, type) and isinstance(base_class, type) and issubclass(cls, base_class)):
        raise SavedModelError(f"{source}: {library} has no {base} class named {name[:60]!r}.", key="class")
    return cls


def _unsaved(description: Any) -> bool:
    return isinstance(description, dict) and description.get("saved") is False


def _library(value: Any) -> Optional[str]:
    module = type(value).__module__.split(".")[0]
    return module if module in LIBRARIES else None


def _is_module(value: Any) -> bool:
    from torch import nn

    return isinstance(value, nn.Module)


def _dtype(module: Any) -> Optional[str]:
    """The dtype of the module's first floating-point parameter (``"float32"``), if any."""
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return str(parameter.dtype).replace("torch.", "")
    return None
