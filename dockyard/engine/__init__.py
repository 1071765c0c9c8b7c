"""The engine: a Python library that a test or another program can use in-process."""

from dockyard.engine.engine import Engine

__all__ = ["Engine"]
