"""Elementwise and distribution losses: 1e4 and 1e7 elements."""
from .common import _LossBenchmark, family_params


class Elementwise(_LossBenchmark):
    params = family_params("elementwise")
