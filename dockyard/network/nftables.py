"""nftables through libnftables, the library behind the `nft` command.

One call of ``run`` is one netlink transaction: a whole table is replaced
atomically, and no process is started for it (libnftables ships with the
nftables package; the ctypes binding is the same one Debian's python3-nftables
uses).
"""

from __future__ import annotations

import ctypes
import threading
from concurrent.futures import ThreadPoolExecutor

from dockyard.errors import SystemError as EngineSystemError

LIBRARY = "libnftables.so.1"
# Frees contexts off the caller's path (see Nftables.close_later); made at first use.
_closer: ThreadPoolExecutor | None = None


class Nftables:
    """A libnftables context; ``run`` takes commands in nft's text syntax."""

    def __init__(self) -> None:
        try:
            self._lib = _load()
        except OSError:
            raise EngineSystemError(
                f"cannot load {LIBRARY}: install the nftables package to use bridge networks"
            ) from None
        self._ctx = self._lib.nft_ctx_new(0)
        self._lib.nft_ctx_buffer_output(self._ctx)
        self._lib.nft_ctx_buffer_error(self._ctx)
        self._lock = threading.Lock()  # a context's buffers belong to one call at a time

    def run(self, commands: str) -> str:
        """Run ``commands`` (nft -f syntax); return what nft prints, raise with nft's error."""
        with self._lock:
            status = self._lib.nft_run_cmd_from_buffer(self._ctx, commands.encode())
            output = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
            error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
        if status != 0:
            first = error.strip().splitlines()[0] if error.strip() else "unknown error"
            raise EngineSystemError(f"nftables: {first}")
        return output

    def close(self) -> None:
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None

    def close_later(self) -> None:
        """Free the context on another thread: closing a context that has talked to the
        kernel waits for an RCU grace period (~10 ms, no CPU), which nobody needs to wait for."""
        global _closer
        if _closer is None:
            _closer = ThreadPoolExecutor(1, thread_name_prefix="dockyard-nft-free")
        _closer.submit(self.close)


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(LIBRARY)
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error", "nft_ctx_free"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
        getattr(lib, name).restype = ctypes.c_char_p
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib
