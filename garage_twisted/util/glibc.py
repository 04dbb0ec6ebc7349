"""This process's C library functions, looked up by name through ctypes.

One place for the lookup the malloc tuning (``service/tap.py``) and the heap
trimmer (``service/heap.py``) share. Where the C library is not glibc (musl,
macOS) a glibc-only function is missing: the lookup answers ``None`` and the
caller does without.
"""

import ctypes
import ctypes.util


def libc_function(name: str):
    """The C library's function ``name``, or ``None`` if there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return getattr(libc, name)
    except (OSError, AttributeError):
        return None
