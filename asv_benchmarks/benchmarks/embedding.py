"""Embedding losses: (100, 16), (4096, 512) and (1024, 2048) embeddings."""
from .common import _LossBenchmark, family_params


class Embedding(_LossBenchmark):
    params = family_params("embedding")
