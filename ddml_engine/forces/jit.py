"""numba's on-disk cache of the force kernels: tell the user before a first-use compilation.

Every force kernel is compiled with `cache=True`: the first call after an install compiles it (tens of seconds
on 2 cores) and stores the machine code next to the sources (or in numba's user cache when the install is
read-only); later processes load it in milliseconds. `announce_compilation()` prints one line when kernels are
not cached yet, so a long first step is not mistaken for a hang.
"""
from __future__ import annotations

import sys
from types import ModuleType


def _kernel_modules() -> list[ModuleType]:
    from ddml_engine.forces import _elastic_kernels, fft, neighbors

    return [_elastic_kernels, fft, neighbors]


def uncached_kernels() -> list[str]:
    """Names of the cached numba kernels without a usable on-disk entry for this source (compiled on first use)."""
    from numba.core.registry import CPUDispatcher

    missing = []
    for module in _kernel_modules():
        for name, obj in vars(module).items():
            if not isinstance(obj, CPUDispatcher) or obj.targetoptions.get("inline") == "always":
                continue  # inlined helpers are compiled into their callers and never cached on their own
            cache = getattr(obj, "_cache", None)
            cache_file = getattr(cache, "_cache_file", None)
            if cache_file is None:
                continue
            try:
                cached = bool(cache_file._load_index())  # {} when absent or stale (numba checks the source stamp)
            except Exception:  # numba's private layout changed: assume compiled
                cached = True
            if not cached:
                missing.append(f"{module.__name__}.{name}")
    return missing


def announce_compilation(prefix: str = "[ddml]") -> bool:
    """Print a one-line notice when force kernels will be compiled; returns whether it did."""
    missing = uncached_kernels()
    if missing:
        print(f"{prefix} compiling {len(missing)} numba force kernels for this install (once; about a minute on 2 "
              "cores, then cached on disk) ...", file=sys.stderr, flush=True)
    return bool(missing)
