"""The functional forms, as ``torch.nn.functional`` has them: ``from numloss import functional as F``."""
from .losses.classification import (
    cross_entropy,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    nll_loss,
)
from .losses.ctc import ctc_loss
from .losses.embedding import cosine_embedding_loss, triplet_margin_loss, triplet_margin_with_distance_loss
from .losses.margin import hinge_embedding_loss, hinge_loss, margin_ranking_loss, soft_margin_loss
from .losses.probabilistic import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    gaussian_nll_loss,
    kl_div,
    poisson_nll_loss,
)
from .losses.regression import huber_loss, l1_loss, mse_loss, msle_loss, rmse_loss, smooth_l1_loss

__all__ = [
    "l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss", "rmse_loss", "msle_loss",
    "soft_margin_loss", "hinge_embedding_loss", "margin_ranking_loss", "hinge_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "poisson_nll_loss",
    "gaussian_nll_loss", "kl_div", "cross_entropy", "nll_loss", "multi_margin_loss",
    "multilabel_margin_loss", "multilabel_soft_margin_loss", "cosine_embedding_loss",
    "triplet_margin_loss", "triplet_margin_with_distance_loss", "ctc_loss",
]
