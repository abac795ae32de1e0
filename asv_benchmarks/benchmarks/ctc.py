"""CTC loss: (T, N, C, S) = (30, 4, 12, 8), (200, 32, 30, 40), (500, 16, 1000, 100) and, at "scale", (1000, 8, 5000, 200)."""
from .common import _LossBenchmark, family_params


class CTC(_LossBenchmark):
    params = family_params("ctc")
