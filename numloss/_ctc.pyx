# cython: freethreading_compatible = False
"""Compiled core of numloss: the CTC forward-backward (see numloss/losses/ctc.py for the API).

Typed memoryviews only: no NumPy C-API, so the build needs just setuptools and Cython.
"""

cdef extern from *:
    """
    #ifndef NUMLOSS_OPENMP
    #define NUMLOSS_OPENMP 0
    #endif
    """
    int NUMLOSS_OPENMP

OPENMP = bool(NUMLOSS_OPENMP)
