"""Class-score losses: (100, 10), (4096, 1000), (512, 32000) and (200000, 10) logits."""
from .common import _LossBenchmark, family_params


class ClassScore(_LossBenchmark):
    params = family_params("class-score")
