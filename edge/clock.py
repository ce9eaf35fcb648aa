"""Whether the Pi's clock can be trusted: a Pi has no battery-backed clock and may boot with
no network, hence a wrong time. Every event says so in `clock_synced`; the hub decides what
to do with such timestamps."""

from __future__ import annotations

import ctypes
import ctypes.util

TIME_ERROR = 5  # adjtimex(2): the kernel says the clock is not synchronised
_TIMEX_SIZE = 256  # larger than struct timex on every Linux ABI; modes=0 only reads


def ntp_synchronised() -> bool:
    """The kernel's view, the one `timedatectl` shows as "System clock synchronized"."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buffer = ctypes.create_string_buffer(_TIMEX_SIZE)
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError):
        return False
    return 0 <= state < TIME_ERROR
