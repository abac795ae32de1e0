"""Class-score losses: (100, 10), (4096, 1000) and (512, 32000) logits."""
from .common import _LossBenchmark, family_params


class ClassScore(_LossBenchmark):
    params = family_params("class-score")
