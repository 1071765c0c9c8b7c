"""Tar archives in and out of a directory tree that is treated as its root.

    root      Root: a directory opened as "/", paths resolved inside it (openat2 RESOLVE_IN_ROOT)
    extract   Extractor: the one tar extractor (layers, build contexts, ADD, docker cp both ways)
    pack      TarWriter: the one tar writer (layers, docker cp out)

Nothing here follows a path through the host: every entry is reached from a
descriptor of its parent directory, which was itself resolved inside the root.
"""
