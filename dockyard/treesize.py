"""The bytes a directory tree holds on disk, as Docker's ``directory.Size`` counts them:
regular files' sizes, each inode once (hard links are not counted twice).

A walk of a big tree takes long: the daemon calls this in a worker thread, never on its
event loop.
"""

from __future__ import annotations

import os
from pathlib import Path


def tree_size(path: Path) -> int:
    inodes: set[int] = set()
    total = 0
    for top, _dirs, files in os.walk(path):
        for entry in files:
            try:
                st = os.lstat(os.path.join(top, entry))
            except OSError:
                continue
            if st.st_size and st.st_ino not in inodes:
                inodes.add(st.st_ino)
                total += st.st_size
    return total
