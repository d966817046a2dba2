"""Which submodules an algorithm acts on: ``TARGET_MODULES_TYPE`` and its resolution (DESIGN.md section 4)."""

from smashconfig.target_modules.normalize import TARGET_MODULES_TYPE, normalize_target_modules
from smashconfig.target_modules.resolve import expand_list_of_targeted_paths

__all__ = ["TARGET_MODULES_TYPE", "expand_list_of_targeted_paths", "normalize_target_modules"]
