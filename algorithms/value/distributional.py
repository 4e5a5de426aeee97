"""Categorical DQN's target and loss (C51: Bellemare, Dabney & Munos 2017, "A Distributional
Perspective on Reinforcement Learning", Algorithm 1), for :mod:`algorithms.value.dqn`'s
``distributional`` switch.

The return from (s, a) is modelled as a categorical distribution on the fixed support
z_i = V_min + i Δz, i = 0 … N − 1, Δz = (V_max − V_min) / (N − 1), with probabilities p_i(s, a)
(a softmax over the network's N logits for a), so that Q(s, a) = Σ_i z_i p_i(s, a). The target
distribution of the Bellman update, r + γ Z(s', a*), lives on the shifted atoms r + γ z_j; the
projection Φ puts it back on the support, and the loss is the cross-entropy of the projected
target against the prediction. The discount d = γ^n (1 − terminated) and the n-step reward R
come from the replay buffer, so the same code serves n-step returns (Hessel et al. 2018's
multi-step distributional target) and terminals (d = 0: the mass collapses onto the atoms
around R).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def categorical_projection(next_probs: Tensor, returns: Tensor, discounts: Tensor,
                           support: Tensor) -> Tensor:
    """Φ: project the distribution ``next_probs`` (B, N) on the atoms R + d z_j back onto
    ``support`` (N,), for a batch of returns R (B,) and discounts d (B,) (Alg. 1, lines 6–10):

        T̂z_j = clip(R + d z_j, V_min, V_max)
        b_j  = (T̂z_j − V_min) / Δz,      l = ⌊b_j⌋,  u = ⌈b_j⌉
        m_l += p_j (u − b_j),            m_u += p_j (b_j − l)

    Each p_j is split between the two atoms around T̂z_j in proportion to its closeness, so Φ is
    linear, conserves mass, and preserves the mean Σ_i z_i m_i = R + d Σ_j z_j p_j when no atom
    is clipped. Where b_j is an integer, l = u and both weights vanish: Alg. 1 as written loses
    p_j there, so then l is moved one atom down (or u one up at V_min) and the whole p_j lands on
    b_j itself."""
    n = support.numel()
    v_min, v_max = support[0], support[-1]  # tensors: no host sync on a GPU
    delta = (v_max - v_min) / (n - 1)
    tz = (returns[:, None] + discounts[:, None] * support[None, :]).clamp(v_min, v_max)
    b = ((tz - v_min) / delta).clamp(0, n - 1)  # rounding may not leave [0, N − 1]
    lower, upper = b.floor().long(), b.ceil().long()
    # b_j = k > 0: l = k − 1, weight (b − l) = 1 on u = k; b_j = 0: u = 1, weight 1 on l = 0
    lower = torch.where((upper > 0) & (lower == upper), lower - 1, lower)
    upper = torch.where((lower < n - 1) & (lower == upper), upper + 1, upper)
    projected = torch.zeros_like(next_probs)
    projected.scatter_add_(1, lower, next_probs * (upper.to(b.dtype) - b))
    projected.scatter_add_(1, upper, next_probs * (b - lower.to(b.dtype)))
    return projected


def categorical_loss(q: nn.Module, q_target: nn.Module, obs: Tensor, actions: Tensor,
                     returns: Tensor, discounts: Tensor, next_obs: Tensor, double: bool
                     ) -> tuple[Tensor, Tensor]:
    """Per sample, the cross-entropy −Σ_i m_i log p_i(s, a; θ) of the projected target
    m = Φ(R + d Z(s', a*; θ⁻)) (Alg. 1, line 12), and Q(s, a; θ) = Σ_i z_i p_i(s, a; θ) for
    logging. a* = argmax_a' Q(s', a'; θ⁻) (Alg. 1, lines 2–3), or with ``double``
    argmax_a' Q(s', a'; θ): the online net selects, the target net's distribution is projected
    (as in Rainbow). The cross-entropy is KL(m ‖ p) + H(m), and H(m) does not depend on θ: the
    same gradient. It also serves as the replay priority (Rainbow prioritises by the KL)."""
    rows = torch.arange(len(actions), device=actions.device)
    with torch.no_grad():
        next_probs = q_target.log_probs(next_obs).exp()  # (B, A, N)
        next_q = q(next_obs) if double else (next_probs * q_target.support).sum(-1)
        target = categorical_projection(next_probs[rows, next_q.argmax(1)], returns, discounts,
                                        q_target.support)
    log_p = q.log_probs(obs)[rows, actions]  # (B, N): log p_i(s, a; θ)
    return -(target * log_p).sum(-1), (log_p.exp() * q.support).sum(-1)
