"""The algorithm contract (base class, hyperparameter helpers) and the registry of algorithms.

Floor 2: above the targets, below the config. Algorithms depend on it; it names no backend.
"""
