"""A reward model on week 8's language model: a scalar head on the backbone's last hidden state,
trained on preference pairs with the Bradley-Terry loss, and ensembles of such models.

Stiennon et al. (2020), "Learning to summarize from human feedback", and Ouyang et al.
(2022), "Training language models to follow instructions with human feedback" (InstructGPT),
eq. 1: the reward r_φ(x, y) is a linear head on the final hidden state of the last token of
prompt-and-response, and the model is fitted to pairs (y_w preferred to y_l) by maximising the
Bradley-Terry likelihood ``bradley_terry.py`` states for items:

    loss(φ) = −E_{(x, y_w, y_l)} [log σ(r_φ(x, y_w) − r_φ(x, y_l) − m)]

with m = 0 in both papers; Touvron et al. (2023), "Llama 2", eq. 2, subtract a margin m that
grows with how strongly the annotator preferred y_w. The loss sees only differences, so r is
defined up to a constant per prompt (Stiennon et al. normalise it to mean 0 on reference
answers before RL).

``pooling="sum"`` reads the head at every position instead and adds the per-token rewards,
r(x, y) = Σ_t (w · h_t + b): the form of DPO's implicit reward, a sum of per-token terms
β log π/π_ref (Rafailov et al. 2024, "From r to Q*", §4). The prompt's terms are the same for
both responses of a pair (attention is causal), so they cancel in every difference; a reward
that adds word by word suits a gold reward that does (VADER sums word valences).

Coste et al. (2024), "Reward Model Ensembles Help Mitigate Overoptimization" (ICLR), combine k
reward models trained from different seeds: the mean, worst-case optimisation (WCO, min_i r_i)
and uncertainty-weighted optimisation (UWO, mean − λ · Var_i r_i, the intra-ensemble variance
over the k members, λ a coefficient).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from algorithms.lm.model import LanguageModel

OBJECTIVES = ("mean", "worst_case", "uncertainty_weighted")
POOLINGS = ("last", "sum")


class RewardModel(nn.Module):
    """r(x, y) = w · h_T + b, h_T the ``backbone``'s final (normed) hidden state at each row's
    last real token (``pooling="last"``), or Σ_{t ≤ T} (w · h_t + b) (``pooling="sum"``).
    ``backbone`` is a (usually pretrained) ``LanguageModel``; its ``lm_head`` is not used, and
    gets no gradient."""

    def __init__(self, backbone: LanguageModel, pooling: str = "last"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; known: {', '.join(POOLINGS)}")
        self.backbone = backbone
        self.pooling = pooling
        d_model = backbone.config.d_model
        self.head = nn.Linear(d_model, 1)
        # a small head (std 1/sqrt(d + 1)): initial rewards near 0 whatever the features' scale
        nn.init.normal_(self.head.weight, std=1.0 / math.sqrt(d_model + 1))
        nn.init.zeros_(self.head.bias)

    def forward(self, idx: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Rewards ``(B,)`` of the token rows ``idx`` ``(B, T)``, right-padded: row i's sequence
        is its first ``lengths[i]`` tokens (all T when ``lengths`` is None). Padding after a
        row's end cannot change its reward: attention is causal."""
        batch, width = idx.shape
        if lengths is None:
            lengths = torch.full((batch,), width, dtype=torch.long, device=idx.device)
        if bool((lengths < 1).any()) or bool((lengths > width).any()):
            raise ValueError(f"lengths must be in 1 .. {width}")
        hidden = self.backbone.hidden_states(idx)
        lengths = lengths.to(idx.device)
        if self.pooling == "sum":
            real = torch.arange(width, device=idx.device)[None, :] < lengths[:, None]
            return (self.head(hidden).squeeze(-1) * real).sum(-1)
        last = hidden[torch.arange(batch, device=idx.device), lengths - 1]
        return self.head(last).squeeze(-1)


@dataclass(frozen=True)
class RewardStats:
    """Of one batch of pairs: the loss, the share ranked right (r_w > r_l), the mean reward
    margin r_w − r_l."""

    loss: float
    accuracy: float
    margin: float

    def metrics(self) -> dict[str, float]:
        return {"loss": self.loss, "accuracy": self.accuracy, "margin": self.margin}


def pairwise_reward_loss(chosen: Tensor, rejected: Tensor, margin: Tensor | float = 0.0
                         ) -> tuple[Tensor, RewardStats]:
    """−mean log σ(r_w − r_l − m) over pairs (InstructGPT eq. 1; Llama 2 eq. 2 with m ≠ 0),
    from the rewards ``chosen`` = r(x, y_w) and ``rejected`` = r(x, y_l), each ``(B,)``."""
    if chosen.shape != rejected.shape:
        raise ValueError(f"chosen {tuple(chosen.shape)} and rejected "
                         f"{tuple(rejected.shape)} rewards differ in shape")
    difference = chosen - rejected
    loss = -F.logsigmoid(difference - margin).mean()
    with torch.no_grad():
        stats = RewardStats(loss=float(loss), accuracy=float((difference > 0).float().mean()),
                            margin=float(difference.mean()))
    return loss, stats


def ensemble_reward(rewards: Tensor, objective: str = "mean", penalty: float = 1.0) -> Tensor:
    """One reward per sample from ``rewards`` ``(k, B)`` of k members (Coste et al. 2024):
    ``mean``; ``worst_case``, min over members; ``uncertainty_weighted``, mean − ``penalty`` ·
    the members' variance (population variance, 1/k)."""
    if rewards.dim() != 2 or rewards.shape[0] < 1:
        raise ValueError(f"rewards must be (members, batch), got {tuple(rewards.shape)}")
    if objective == "mean":
        return rewards.mean(0)
    if objective == "worst_case":
        return rewards.min(0).values
    if objective == "uncertainty_weighted":
        return rewards.mean(0) - penalty * rewards.var(0, unbiased=False)
    raise ValueError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
