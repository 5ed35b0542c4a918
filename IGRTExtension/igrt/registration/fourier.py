"""The FFT the registration uses, and the lengths it does fast.

SciPy's FFT is ~4× NumPy's on these grids; stock Slicer has NumPy only, whose functions have the same
signatures, so the core runs with either.
"""

from __future__ import annotations

import numpy as np

try:
    from scipy import fft
except ImportError:  # stock Slicer
    fft = np.fft


def fast_length(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ n: a length the FFT does fast (NumPy only; no SciPy in stock Slicer)."""
    best = 2 * n
    p2 = 1
    while p2 < best:
        p3 = p2
        while p3 < best:
            p5 = p3
            while p5 < n:
                p5 *= 5
            best = min(best, p5)
            p3 *= 3
        p2 *= 2
    return best
