"""A Mixture-of-Experts feed-forward layer: top-k token routing with expert capacity.

* Routing, Fedus, Zoph & Shazeer (2022), "Switch Transformers", §2.1 (eq. 1–2):
      p_i(x) = exp(h(x)_i) / Σ_j exp(h(x)_j),   h(x) = W_r · x,
      y = Σ_{i ∈ T} p_i(x) E_i(x)              (T: the top-k experts; Switch routes to k = 1)
  For k ≥ 2 the chosen probabilities are renormalised to sum to 1, as GShard (Lepikhin et al.
  2020, Algorithm 1: g₁ / (g₁ + g₂)) and Mixtral do.
* Expert capacity, Switch §2.2 (eq. 3):
      capacity = (tokens per batch / number of experts) × capacity factor;
  GShard counts *assignments*, so for top-k, capacity = ⌈capacity factor · k · tokens / experts⌉,
  which for k = 1 is exactly Switch's formula (rounded up). An assignment beyond its expert's
  capacity is dropped: it contributes zero here, and the residual connection around the block
  carries the token on unchanged.
* Load-balancing loss, Switch eq. 4–6:
      loss = α · N · Σ_{i=1}^{N} f_i · P_i,
      f_i = (1/T) Σ_{x ∈ B} 1{argmax p(x) = i},   P_i = (1/T) Σ_{x ∈ B} p_i(x),
  with N experts and T tokens in the batch B; α (0.01 in the paper) is applied by the model.
* Router z-loss, Zoph et al. (2022), "ST-MoE", eq. 5:
      L_z(x) = (1/B) Σ_{j=1}^{B} (log Σ_{i=1}^{N} exp(x_j^{(i)}))²,
  with B tokens and router logits x_j; it keeps the logits small, so the router's float32
  softmax stays well conditioned. Its weight (ST-MoE: 1e-3) is applied by the model.

The whole flattened batch (B · T tokens) is one routing group: capacity, the priority order and
both auxiliary losses are computed over it. The router runs in float32 even under autocast,
Switch's "selective precision" (§2.4): the softmax of bfloat16 logits is too coarse to rank
experts; the gates are cast back to the activations' dtype before they scale the expert outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def expert_capacity(n_tokens: int, n_experts: int, top_k: int = 1,
                    capacity_factor: float | None = 1.25) -> int:
    """Assignments one expert may take: ⌈capacity_factor · top_k · n_tokens / n_experts⌉.

    For ``top_k = 1`` this is Switch's (tokens per batch / experts) × capacity factor, rounded
    up; for ``top_k = k`` GShard's count of assignments (each token makes k). ``None``: no
    limit, i.e. ``n_tokens`` (a token picks an expert at most once, so no expert can receive
    more)."""
    if capacity_factor is None:
        return n_tokens
    if capacity_factor <= 0:
        raise ValueError(f"capacity_factor must be positive or None, got {capacity_factor}")
    return math.ceil(capacity_factor * top_k * n_tokens / n_experts)


def load_balancing_loss(router_probs: Tensor, expert_mask: Tensor) -> Tensor:
    """N · Σ_i f_i · P_i (Switch eq. 4, without α).

    ``router_probs``: ``(..., N)``, the router's softmax for every token. ``expert_mask``: the
    router's choices before capacity is applied, either ``(..., N)`` with k ones per token or
    one-hot ``(..., k, N)``. f_i is the fraction of all assignments that chose expert i (for
    top-k every one of the k counts, divided by k, so Σ f_i = 1); P_i is the mean probability
    of expert i (eq. 6). f is a count, so the gradient reaches the router through P alone.
    Both are uniform, 1/N, under uniform routing, and the loss is then exactly 1; it is N when
    every token goes to one expert with probability 1.
    """
    n_experts = router_probs.shape[-1]
    counts = expert_mask.reshape(-1, n_experts).to(router_probs.dtype).sum(0)
    fraction_dispatched = counts / counts.sum()                   # f_i (eq. 5), Σ f_i = 1
    probability = router_probs.reshape(-1, n_experts).mean(0)     # P_i (eq. 6)
    return n_experts * (fraction_dispatched * probability).sum()  # N · Σ f_i P_i (eq. 4)


def router_z_loss(logits: Tensor) -> Tensor:
    """ST-MoE eq. 5: (1/B) Σ_j (log Σ_i exp x_j^{(i)})², over every token j of ``(..., N)``
    (in float32 at least: bfloat16 logits are widened)."""
    wide = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return torch.logsumexp(wide, dim=-1).square().mean()


@dataclass
class RoutingStats:
    """How one forward routed its tokens (detached tensors; :meth:`to_dict` gives floats).

    * ``load``: ``(N,)``, the fraction of all assignments each expert was chosen for, before
      capacity (Switch's f_i; sums to 1);
    * ``dropped``: the fraction of assignments over capacity (dropped);
    * ``entropy``: the router's mean entropy per token, −Σ_i p_i log p_i, in nats (log N for a
      uniform router, 0 for a one-hot one);
    * ``load_cv``: the coefficient of variation of ``load``, std / mean over the N experts
      (population std; 0 for perfectly balanced load, √(N − 1) when one expert takes all).
    """

    load: Tensor
    dropped: Tensor
    entropy: Tensor
    load_cv: Tensor

    def to_dict(self, prefix: str = "") -> dict[str, float]:
        """Flat floats for logging: ``{prefix}load/expert{i}``, ``{prefix}dropped``,
        ``{prefix}router_entropy``, ``{prefix}load_cv``."""
        out = {f"{prefix}load/expert{i}": float(v) for i, v in enumerate(self.load.tolist())}
        out[f"{prefix}dropped"] = float(self.dropped)
        out[f"{prefix}router_entropy"] = float(self.entropy)
        out[f"{prefix}load_cv"] = float(self.load_cv)
        return out


def dispatch_order(expert_index: Tensor, n_experts: int, capacity: int) -> tuple[Tensor, Tensor]:
    """Which assignments each expert keeps, in priority order.

    ``expert_index``: ``(S, k)``, token s's j-th choice. Assignments are numbered a = j · S + s,
    so that every first choice (j = 0) precedes every second choice, each in token order (the
    position in the flattened batch): GShard's priority, first come, first served. A stable sort
    by expert keeps that order within each expert; an assignment's rank among its expert's
    assignments is its position in the sorted run, and it is kept if the rank is below
    ``capacity``.

    Returns ``kept``, the kept assignment numbers grouped by expert (expert 0's first, each
    group in priority order), and ``kept_counts``: ``(N,)``, the size of each group.
    """
    choices = expert_index.t().reshape(-1)                   # (k · S,): a = j · S + s
    order = torch.argsort(choices, stable=True)              # grouped by expert, priority kept
    counts = torch.bincount(choices, minlength=n_experts)    # assignments per expert
    starts = torch.cumsum(counts, 0) - counts                # where each group begins
    rank = torch.arange(order.numel(), device=order.device) - starts[choices[order]]
    kept = order[rank < capacity]                            # still grouped by expert
    return kept, counts.clamp(max=capacity)


class MoEFeedForward(nn.Module):
    """y(x) = Σ_{i ∈ top-k} g_i(x) E_i(x) for every token of ``(B, T, d_model)``.

    ``router``: ``nn.Linear(d_model, n_experts, bias=False)`` (W_r); ``experts``: an
    ``nn.ModuleList`` of ``make_expert()`` modules mapping ``(n, d_model) → (n, d_model)``.
    The gates g are the router probabilities of the chosen experts: p_i(x) for k = 1 (Switch),
    renormalised over the k chosen for k ≥ 2 (GShard, Mixtral). Renormalisation happens before
    capacity, so a token whose second choice is dropped keeps g₁ = p₁ / (p₁ + p₂), as in GShard.

    ``capacity_factor`` sets :func:`expert_capacity`, the same in training and evaluation;
    ``None`` means no limit (nothing is dropped). ``router_jitter`` ε: in training, the
    router's input (not the experts') is multiplied by noise ~ U(1 − ε, 1 + ε), the
    multiplicative jitter of Switch's Mesh TensorFlow router (``_switch_gating``).

    Each expert runs once on its own kept tokens, gathered by index; the weighted outputs are
    scatter-added back to their tokens, so the work is the k · S rows actually routed, never a
    dense (tokens × experts × capacity) dispatch tensor.

    After every forward: ``balance_loss`` (N · Σ f_i P_i) and ``z_loss`` (ST-MoE eq. 5), scalar
    float32 tensors in the graph for the model to weight (by α and β) and add to its loss, and
    ``stats``, a detached :class:`RoutingStats`.
    """

    def __init__(self, d_model: int, n_experts: int, top_k: int = 1,
                 capacity_factor: float | None = 1.25, *,
                 make_expert: Callable[[], nn.Module], router_jitter: float = 0.0):
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"top_k must be in 1..n_experts={n_experts}, got {top_k}")
        if capacity_factor is not None and capacity_factor <= 0:
            raise ValueError(f"capacity_factor must be positive or None, got {capacity_factor}")
        if not 0.0 <= router_jitter < 1.0:
            raise ValueError(f"router_jitter must be in [0, 1), got {router_jitter}")
        self.d_model, self.n_experts, self.top_k = d_model, n_experts, top_k
        self.capacity_factor, self.router_jitter = capacity_factor, router_jitter
        self.router = nn.Linear(d_model, n_experts, bias=False)
        self.experts = nn.ModuleList(make_expert() for _ in range(n_experts))
        self.balance_loss: Tensor | None = None
        self.z_loss: Tensor | None = None
        self.stats: RoutingStats | None = None

    def route(self, tokens: Tensor) -> Tensor:
        """Router logits h(x) = W_r x, ``(S, N)``, in float32 (float64 for a float64 model;
        never narrower) whatever the autocast state."""
        dtype = torch.promote_types(tokens.dtype, torch.float32)
        with torch.autocast(device_type=tokens.device.type, enabled=False):
            x = tokens.to(dtype)
            if self.training and self.router_jitter > 0:
                eps = self.router_jitter
                x = x * torch.empty_like(x).uniform_(1.0 - eps, 1.0 + eps)
            return F.linear(x, self.router.weight.to(dtype))

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        tokens = x.reshape(-1, self.d_model)                       # (S, d): one routing group
        n_tokens, k, n_experts = tokens.shape[0], self.top_k, self.n_experts

        logits = self.route(tokens)                                # h(x), (S, N), ≥ float32
        probs = torch.softmax(logits, dim=-1)                      # p_i(x), eq. 1
        gates, expert_index = probs.topk(k, dim=-1)                # (S, k), best first
        if k > 1:                                                  # GShard: g_j / Σ g
            gates = gates / gates.sum(-1, keepdim=True)

        capacity = expert_capacity(n_tokens, n_experts, k, self.capacity_factor)
        kept, kept_counts = dispatch_order(expert_index, n_experts, capacity)
        token_of = kept % n_tokens                                 # a = j · S + s → s
        gate_of = gates.t().reshape(-1)[kept].to(x.dtype)          # g of each kept assignment

        # each expert on its own contiguous slice of the gathered tokens
        routed = tokens.index_select(0, token_of).split(kept_counts.tolist())
        outputs = [expert(rows) for expert, rows in zip(self.experts, routed) if rows.shape[0]]
        out = torch.zeros_like(tokens)
        if outputs:                                                # y = Σ g_i E_i(x), eq. 2
            joined = outputs[0] if len(outputs) == 1 else torch.cat(outputs)  # cat copies
            out = out.index_add(0, token_of, joined * gate_of[:, None])

        self.balance_loss = load_balancing_loss(probs, F.one_hot(expert_index, n_experts))
        self.z_loss = router_z_loss(logits)
        self.stats = self._stats(probs.detach(), expert_index, kept.numel())
        return out.reshape(shape)

    def _stats(self, probs: Tensor, expert_index: Tensor, n_kept: int) -> RoutingStats:
        with torch.no_grad():
            n_assignments = expert_index.numel()
            load = torch.bincount(expert_index.reshape(-1), minlength=self.n_experts)
            load = load.float() / n_assignments
            entropy = torch.special.entr(probs).sum(-1).mean()     # −Σ p log p, 0 log 0 = 0
            mean = load.mean()                                     # = 1 / N
            return RoutingStats(
                load=load,
                dropped=torch.tensor(1.0 - n_kept / n_assignments, device=load.device),
                entropy=entropy,
                load_cv=load.std(correction=0) / mean)
