"""Offline preference-optimisation losses: DPO, IPO, SimPO, KTO and ORPO.

Each loss reads log-probabilities that the caller has already computed, one number per sequence
(the sum over the completion's tokens of log π(y_t | x, y_<t)), as 1-D tensors of shape (B,):

* ``policy_chosen_logps``, ``policy_rejected_logps``: log π_θ(y_w | x), log π_θ(y_l | x);
* ``reference_chosen_logps``, ``reference_rejected_logps``: the same under the frozen π_ref.

Each returns ``(loss, stats)``: the loss is the mean over the batch (as in every paper) and the
stats are detached diagnostics for logging. For the reference-based losses the implicit reward
is DPO's r(x, y) = β (log π_θ(y|x) − log π_ref(y|x)) (Rafailov et al. 2023, eq. 5 up to the
partition term); the margin is r_w − r_l and the accuracy the share of pairs with r_w > r_l.

A β ≤ 0 is an error: β is the inverse strength of the KL pull to π_ref in DPO, IPO and KTO, and
the reward scale in SimPO; at 0 or below each objective loses its meaning.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


class PreferenceStats(NamedTuple):
    """Detached per-pair diagnostics, shape (B,) except ``accuracy`` (a scalar)."""

    chosen_rewards: Tensor
    rejected_rewards: Tensor
    margins: Tensor  # chosen_rewards − rejected_rewards
    accuracy: Tensor  # mean(chosen_rewards > rejected_rewards)

    def metrics(self) -> dict[str, float]:
        """Batch means, named for the tracker."""
        return {"rewards/chosen": float(self.chosen_rewards.mean()),
                "rewards/rejected": float(self.rejected_rewards.mean()),
                "rewards/margin": float(self.margins.mean()),
                "rewards/accuracy": float(self.accuracy)}


def check_positive(name: str, value: float) -> None:
    """Raise a one-line ValueError unless ``value`` is a finite number > 0."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _stats(chosen_rewards: Tensor, rejected_rewards: Tensor) -> PreferenceStats:
    chosen, rejected = chosen_rewards.detach(), rejected_rewards.detach()
    return PreferenceStats(chosen, rejected, chosen - rejected, (chosen > rejected).float().mean())


def dpo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor,
             reference_chosen_logps: Tensor, reference_rejected_logps: Tensor,
             beta: float = 0.1, label_smoothing: float = 0.0) -> tuple[Tensor, PreferenceStats]:
    """Direct Preference Optimization (Rafailov et al. 2023, "Direct Preference Optimization:
    Your Language Model is Secretly a Reward Model", eq. 7):

        h = (log π_θ(y_w|x) − log π_ref(y_w|x)) − (log π_θ(y_l|x) − log π_ref(y_l|x))
        L_DPO = −E[log σ(β h)]

    With ``label_smoothing`` ε > 0 it is conservative DPO (cDPO; Mitchell 2023, "A note on DPO
    with noisy preferences"): each label is taken as flipped with probability ε,

        L_cDPO = −E[(1 − ε) log σ(β h) + ε log σ(−β h)],

    the form of the original reference implementation and TRL's. On a pair the model already
    separates, −log σ(βh) → 0 only as h → ∞: with deterministic preferences the margin grows
    without bound, which is what IPO (:func:`ipo_loss`) corrects.
    """
    check_positive("beta", beta)
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing!r}")
    chosen_logratios = policy_chosen_logps - reference_chosen_logps
    rejected_logratios = policy_rejected_logps - reference_rejected_logps
    logits = beta * (chosen_logratios - rejected_logratios)
    smoothing = label_smoothing
    losses = -(1.0 - smoothing) * F.logsigmoid(logits) - smoothing * F.logsigmoid(-logits)
    return losses.mean(), _stats(beta * chosen_logratios, beta * rejected_logratios)


def ipo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor,
             reference_chosen_logps: Tensor, reference_rejected_logps: Tensor,
             beta: float = 0.1) -> tuple[Tensor, PreferenceStats]:
    """Identity Preference Optimisation (Azar et al. 2023, "A General Theoretical Paradigm to
    Understand Learning from Human Preferences", eq. 17):

        h = log [π_θ(y_w|x) π_ref(y_l|x) / (π_θ(y_l|x) π_ref(y_w|x))]
        L_IPO = E[(h − 1/(2τ))²]

    with the paper's τ passed as ``beta``. The square has its minimum at h = 1/(2β), a fixed
    point even when every preference is deterministic, where DPO's margin diverges (§4.2).

    h is computed from the log-probabilities as given: the paper's sequence log-probabilities
    (sums over tokens) when the inputs are sums, as this module's convention is. TRL instead
    divides each log-ratio by its completion's length before squaring; to get that form, pass
    the per-token averages (logps / lengths) instead.
    """
    check_positive("beta", beta)
    chosen_logratios = policy_chosen_logps - reference_chosen_logps
    rejected_logratios = policy_rejected_logps - reference_rejected_logps
    h = chosen_logratios - rejected_logratios
    losses = (h - 1.0 / (2.0 * beta)) ** 2
    return losses.mean(), _stats(beta * chosen_logratios, beta * rejected_logratios)


def simpo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor,
               chosen_lengths: Tensor, rejected_lengths: Tensor,
               beta: float = 2.0, gamma: float = 0.5) -> tuple[Tensor, PreferenceStats]:
    """Simple Preference Optimization (Meng, Xia & Chen 2024, "SimPO: Simple Preference
    Optimization with a Reference-Free Reward", eq. 6):

        L_SimPO = −E[log σ(β/|y_w| · log π_θ(y_w|x) − β/|y_l| · log π_θ(y_l|x) − γ)]

    No reference model: the implicit reward is the length-averaged log-likelihood scaled by β,
    r(x, y) = β/|y| · log π_θ(y|x) (eq. 4), and γ > 0 is a target reward margin. The inputs are
    summed log-probabilities and the completions' token counts; the stats' rewards are r.
    """
    check_positive("beta", beta)
    chosen_rewards = beta * policy_chosen_logps / chosen_lengths
    rejected_rewards = beta * policy_rejected_logps / rejected_lengths
    losses = -F.logsigmoid(chosen_rewards - rejected_rewards - gamma)
    return losses.mean(), _stats(chosen_rewards, rejected_rewards)


class KTOStats(NamedTuple):
    """Detached diagnostics of :func:`kto_loss`: per-example rewards (B,), the flags (B,) and the
    reference point z₀ (a scalar)."""

    rewards: Tensor  # β (log π_θ(y|x) − log π_ref(y|x))
    desirable: Tensor
    kl: Tensor  # z₀

    def metrics(self) -> dict[str, float]:
        """Means over the desirable and the undesirable examples (NaN where a side is empty)."""
        chosen, rejected = self.rewards[self.desirable], self.rewards[~self.desirable]
        return {"rewards/chosen": float(chosen.mean()) if chosen.numel() else math.nan,
                "rewards/rejected": float(rejected.mean()) if rejected.numel() else math.nan,
                "kl": float(self.kl)}


def kto_mismatched_index(batch_size: int) -> Tensor:
    """The completion index j(i) = (i − 1) mod B paired with prompt i for KTO's reference point:
    the batch's completions rolled by one, as TRL's collator builds them, so that (x_i, y_j(i))
    is a mismatched pair drawn from the same batch (Ethayarajh et al. 2024, §4)."""
    if not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"KTO's reference point needs mismatched pairs: batch_size must be an "
                         f"integer >= 2, got {batch_size!r}")
    return torch.roll(torch.arange(batch_size), 1)


def kto_reference_point(policy_kl_logps: Tensor, reference_kl_logps: Tensor) -> Tensor:
    """KTO's reference point z₀ = KL(π_θ(y'|x) ‖ π_ref(y'|x)), estimated as in Ethayarajh et al.
    2024, §4 on m mismatched pairs (x_i, y_j) of the batch:

        ẑ₀ = max(0, (1/m) Σ_i [log π_θ(y_j|x_i) − log π_ref(y_j|x_i)])

    clamped at 0 (a KL is non-negative; the estimate need not be) and detached: the paper does
    not back-propagate through z₀, which only sets the saturation point of the value function.
    """
    return (policy_kl_logps - reference_kl_logps).mean().detach().clamp(min=0.0)


def kto_loss(policy_logps: Tensor, reference_logps: Tensor, desirable: Tensor,
             policy_kl_logps: Tensor, reference_kl_logps: Tensor, beta: float = 0.1,
             desirable_weight: float = 1.0,
             undesirable_weight: float = 1.0) -> tuple[Tensor, KTOStats]:
    """Kahneman-Tversky Optimization (Ethayarajh, Xu, Muennighoff, Jurafsky & Kiela 2024,
    "KTO: Model Alignment as Prospect Theoretic Optimization", eq. 8):

        r_θ(x, y) = log π_θ(y|x) − log π_ref(y|x)
        v(x, y) = λ_D σ(β (r_θ(x, y) − z₀))   if y is desirable
                  λ_U σ(β (z₀ − r_θ(x, y)))   if y is undesirable
        L_KTO = E_{x,y}[λ_y − v(x, y)]

    Unpaired: each example has one completion and a flag ``desirable`` (bool, (B,)). z₀ is
    :func:`kto_reference_point` of ``policy_kl_logps``/``reference_kl_logps``, the log-probs of
    mismatched pairs (x_i, y_j(i)), j = :func:`kto_mismatched_index`. λ_D, λ_U weigh the two
    kinds (the paper advises λ_D n_D / (λ_U n_U) ∈ [1, 4/3] when the classes are imbalanced).
    """
    check_positive("beta", beta)
    check_positive("desirable_weight", desirable_weight)
    check_positive("undesirable_weight", undesirable_weight)
    desirable = desirable.bool()
    z0 = kto_reference_point(policy_kl_logps, reference_kl_logps)
    logratios = policy_logps - reference_logps
    values = torch.where(desirable,
                         desirable_weight * torch.sigmoid(beta * (logratios - z0)),
                         undesirable_weight * torch.sigmoid(beta * (z0 - logratios)))
    losses = torch.where(desirable, desirable_weight - values, undesirable_weight - values)
    return losses.mean(), KTOStats((beta * logratios).detach(), desirable, z0)


def log1mexp(x: Tensor) -> Tensor:
    """log(1 − eˣ) for x < 0, accurately (Mächler 2012, "Accurately Computing log(1 − exp(−|a|))"):
    log(−expm1(x)) above −log 2, where 1 − eˣ cancels, and log1p(−eˣ) below it."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def orpo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor, sft_nll: Tensor,
              lam: float = 0.1) -> tuple[Tensor, PreferenceStats]:
    """Odds Ratio Preference Optimization (Hong, Lee & Thorne 2024, "ORPO: Monolithic Preference
    Optimization without Reference Model", eqs. 6-7):

        odds_θ(y|x) = P_θ(y|x) / (1 − P_θ(y|x)),   log P_θ(y|x) = (1/|y|) Σ_t log π_θ(y_t|x, y_<t)
        L_OR = −log σ(log [odds_θ(y_w|x) / odds_θ(y_l|x)])                                  (7)
        L_ORPO = E[L_SFT + λ · L_OR]                                                         (6)

    The inputs here are the length-averaged log-probabilities log P_θ (each < 0) and ``sft_nll``,
    the supervised NLL of the chosen completions (a scalar or (B,); its mean is taken). log odds
    = log P − log(1 − P) is formed in log space with :func:`log1mexp`, so P near 1 or near 0
    stays finite. No reference model; the stats' rewards are the log odds of y_w and y_l.
    """
    check_positive("lam", lam)
    chosen_log_odds = policy_chosen_logps - log1mexp(policy_chosen_logps)
    rejected_log_odds = policy_rejected_logps - log1mexp(policy_rejected_logps)
    or_losses = -F.logsigmoid(chosen_log_odds - rejected_log_odds)
    loss = sft_nll.mean() + lam * or_losses.mean()
    return loss, _stats(chosen_log_odds, rejected_log_odds)
