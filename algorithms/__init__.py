"""The built-in algorithms, one file each; installed as ``smashconfig.algorithms``."""
