"""The distribution this project installs as, and the install line for one of its extras."""

from __future__ import annotations

DISTRIBUTION = "torch-smashconfig"
"""The name on PyPI (``smashconfig`` there is an unrelated project); the import name stays ``smashconfig``."""


def install_command(extra: str) -> str:
    """``pip install "torch-smashconfig[quanto]"``: adds the extra's packages to an installed smashconfig."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'
