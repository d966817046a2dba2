"""Which submodules an algorithm acts on: ``TARGET_MODULES_TYPE``, its resolution and its explanation."""

from smashconfig.target_modules.explain import Explanation, TargetRecord, explain_targets
from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE, normalize_target_modules
from smashconfig.target_modules.expand import expand_list_of_targeted_paths

__all__ = [
    "TARGET_MODULES_TYPE",
    "Explanation",
    "TargetRecord",
    "expand_list_of_targeted_paths",
    "explain_targets",
    "normalize_target_modules",
]
