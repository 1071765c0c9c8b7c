"""The engine: a Python library that a test or another program can use in-process
(``dockyard.engine.engine.Engine``).

Nothing is imported here, so that the daemon's configuration check can read one table
(log drivers, runtimes) before its zygote forks, without the whole engine.
"""
