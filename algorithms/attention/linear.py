"""Linear-time approximations of softmax attention: Performer (FAVOR+) and Linformer.

* Performer, Choromanski et al. (2021), "Rethinking Attention with Performers", §2.3–2.4,
  Lemma 1. The softmax kernel is an expectation over Gaussian ω of positive features,

      exp(xᵀy) = E_ω[ exp(ωᵀx − ‖x‖²/2) · exp(ωᵀy − ‖y‖²/2) ],

  so with m samples φ(x) = exp(ωᵢᵀx − ‖x‖²/2)ᵢ / √m, and x = q / d^{1/4}, y = k / d^{1/4},

      softmax(QKᵀ/√d) V ≈ diag(φ(Q) φ(K)ᵀ 1)⁻¹ φ(Q) (φ(K)ᵀ V),

  computed right to left in O(L m d) time and memory, never forming the L × L matrix. The ωᵢ
  are orthogonal (blocks of d from a QR decomposition, rows rescaled to Gaussian norms), which
  lowers the estimator's variance (Theorem 2). Positive features keep every weight positive, so
  the normaliser cannot approach 0 the way trigonometric random features' does.
  Causal attention replaces φ(K)ᵀV by prefix sums (§2.6), here computed chunk by chunk.

* Linformer, Wang et al. (2020), "Linformer: Self-Attention with Linear Complexity", eq. 7:

      head = softmax( Q (E K)ᵀ / √d ) (F V),   E, F ∈ R^{k × n},

  project the n keys and values along the *sequence* to k rows: an n × k attention matrix. The
  paper learns E and F (starting, as in its Theorem 1, from a Johnson–Lindenstrauss random
  projection); §4 also allows mean pooling with kernel and stride n/k, which needs no training
  and is exact at k = n. Linformer mixes future keys into every row, so it cannot be causal,
  and E, F fix the maximum length n.

Both are approximations (``exact = False``); ``tests/test_attention_approx.py`` measures their
error against exact attention as m or k grows.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from algorithms.attention.dot_product import Attention


def orthogonal_gaussian_features(n_features: int, dim: int,
                                 generator: torch.Generator | None = None) -> Tensor:
    """``(n_features, dim)`` random projections ω: orthogonal within each block of ``dim`` rows,
    each row scaled to the norm of a d-dimensional Gaussian vector (Performer §2.4, the official
    ``gaussian_orthogonal_random_matrix`` with scaling 0), so each ω is marginally N(0, I).

    The Q of a Householder QR of a Gaussian matrix is *not* uniformly (Haar) distributed: LAPACK
    fixes the signs of R's diagonal, which fixes the sign pattern of Q (its first column always
    points away from the first axis of g₁). Multiplying Q's columns by sign(diag R) makes it
    Haar (Mezzadri, 2007). Without this, ω is not isotropic and FAVOR+ is biased: its error
    stops falling like 1/√m and levels off at the bias once m is large enough.
    """
    blocks = []
    for _ in range(-(-n_features // dim)):
        gaussian = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
        q, r = torch.linalg.qr(gaussian)
        q = q * torch.sign(torch.diagonal(r))[None, :]  # Haar-distributed (Mezzadri, 2007)
        blocks.append(q.T)
    directions = torch.cat(blocks)[:n_features]
    norms = torch.randn(n_features, dim, generator=generator, dtype=torch.float64).norm(dim=1)
    return (directions * norms[:, None]).to(torch.get_default_dtype())


class PerformerAttention(Attention):
    """Performer's FAVOR+ (Choromanski et al., 2021): positive orthogonal random features.

    ``n_features`` is m; the features are drawn once from ``seed`` and can be redrawn with
    :meth:`redraw` (the paper redraws periodically during training). Error falls like 1/√m.
    """

    exact = False

    def __init__(self, head_dim: int, n_features: int = 64, seed: int = 0, chunk: int = 128,
                 eps: float = 0.0):
        super().__init__()
        self.head_dim, self.n_features, self.chunk, self.eps = head_dim, n_features, chunk, eps
        self.register_buffer("omega", torch.empty(n_features, head_dim))
        self.redraw(torch.Generator().manual_seed(seed))

    def redraw(self, generator: torch.Generator | None = None) -> None:
        self.omega.copy_(orthogonal_gaussian_features(self.n_features, self.head_dim, generator))

    def features(self, x: Tensor, is_query: bool) -> Tensor:
        """φ(x) for x already divided by d^{1/4}, stabilised as in the official code: subtract a
        max from the exponent (per row for queries, one global max for keys). A per-row factor
        on φ(q_i) cancels between numerator and normaliser; a global one on φ(K) cancels too.
        The official code also adds ε = 1e-4 to every feature; that biases the estimate once the
        global max is large (it grows with m), so ε defaults to 0 here and the normaliser is
        guarded instead."""
        projected = x @ self.omega.to(x.dtype).T  # ωᵀx: (..., L, m)
        exponent = projected - x.pow(2).sum(-1, keepdim=True) / 2
        if is_query:
            shift = exponent.amax(dim=-1, keepdim=True)
        else:
            shift = exponent.amax(dim=(-2, -1), keepdim=True)
        # the shift is a constant of the estimator, not a function to differentiate through
        return (torch.exp(exponent - shift.detach()) + self.eps) / math.sqrt(self.n_features)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        scale = q.shape[-1] ** -0.25  # splits 1/√d between q and k
        q_features = self.features(q * scale, is_query=True)
        k_features = self.features(k * scale, is_query=False)
        if is_causal:
            return self._causal(q_features, k_features, v)
        context = k_features.transpose(-2, -1) @ v  # φ(K)ᵀ V: (..., m, d_v)
        normaliser = q_features @ k_features.sum(dim=-2).unsqueeze(-1)  # φ(Q) φ(K)ᵀ 1
        return (q_features @ context) / normaliser.clamp_min(torch.finfo(v.dtype).tiny)

    def attention_matrix(self, q: Tensor, k: Tensor) -> Tensor:
        """The implied (non-causal) weights Â = diag(φ(Q)φ(K)ᵀ1)⁻¹ φ(Q)φ(K)ᵀ, ``(..., Lq, Lk)``:
        O(L²), for analysis only. Every entry is positive and every row sums to 1."""
        scale = q.shape[-1] ** -0.25
        kernel = self.features(q * scale, True) @ self.features(k * scale, False).transpose(-2, -1)
        return kernel / kernel.sum(dim=-1, keepdim=True)

    def _causal(self, q_features: Tensor, k_features: Tensor, v: Tensor) -> Tensor:
        """Prefix sums Σ_{j<=i} φ(k_j) v_jᵀ, a chunk at a time: the state of all earlier chunks,
        plus the masked (c × c) interactions within the chunk. O(L (m d + c m)) time."""
        state = v.new_zeros(*v.shape[:-2], self.n_features, v.shape[-1])
        total = v.new_zeros(*v.shape[:-2], self.n_features, 1)
        outs = []
        for start in range(0, v.shape[-2], self.chunk):
            qc = q_features[..., start:start + self.chunk, :]
            kc = k_features[..., start:start + self.chunk, :]
            vc = v[..., start:start + self.chunk, :]
            within = (qc @ kc.transpose(-2, -1)).tril()
            numerator = qc @ state + within @ vc
            normaliser = qc @ total + within.sum(dim=-1, keepdim=True)
            outs.append(numerator / normaliser.clamp_min(torch.finfo(v.dtype).tiny))
            state = state + kc.transpose(-2, -1) @ vc
            total = total + kc.sum(dim=-2).unsqueeze(-1)
        return torch.cat(outs, dim=-2)


class LinformerAttention(Attention):
    """Linformer (Wang et al., 2020), eq. 7: keys and values projected along the sequence.

    ``projection="learned"``: E, F ∈ R^{k × max_len} are parameters, initialised N(0, 1/k) (the
    JL projection of the paper's Theorem 1); shorter inputs use the first n columns.
    ``projection="pool"``: E = F = mean pooling over k contiguous segments (the paper's §4
    alternative); each pooled key stands for its segment, so its logit gets + log |segment|
    (a constant, cancelled by the softmax, when k divides n). Exact at k = n.
    """

    exact = False
    supports_causal = False

    def __init__(self, max_len: int, rank: int, projection: str = "learned",
                 share_kv: bool = False, seed: int = 0):
        super().__init__()
        if projection not in ("learned", "pool"):
            raise ValueError(f"projection must be 'learned' or 'pool', not {projection!r}")
        self.max_len, self.rank, self.projection = max_len, rank, projection
        if projection == "learned":
            generator = torch.Generator().manual_seed(seed)
            self.E = nn.Parameter(torch.randn(rank, max_len, generator=generator) / math.sqrt(rank))
            self.F = self.E if share_kv else nn.Parameter(
                torch.randn(rank, max_len, generator=generator) / math.sqrt(rank))

    def pooling(self, n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """``(k, n)`` mean-pooling matrix over k contiguous segments of n."""
        bounds = torch.linspace(0, n, min(self.rank, n) + 1, device=device).round().long()
        segment = torch.bucketize(torch.arange(n, device=device), bounds[1:], right=True)
        onehot = torch.zeros(len(bounds) - 1, n, dtype=dtype, device=device)
        onehot[segment, torch.arange(n, device=device)] = 1.0
        return onehot / onehot.sum(dim=1, keepdim=True)

    def _weights(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        """The ``(..., Lq, k)`` softmax over projected keys, and the value projection F."""
        n = k.shape[-2]
        if n > self.max_len:
            raise ValueError(f"sequence of {n} is longer than Linformer's max_len {self.max_len}")
        bias = None
        if self.projection == "learned":
            E, F = self.E[:, :n].to(k.dtype), self.F[:, :n].to(k.dtype)
        else:
            E = F = self.pooling(n, k.dtype, k.device)
            bias = (E > 0).sum(dim=1).to(k.dtype).log()  # log |segment| per pooled key
        scores = (q @ (E @ k).transpose(-2, -1)) / math.sqrt(q.shape[-1])  # E K: k rows
        if bias is not None:
            scores = scores + bias
        return scores.softmax(dim=-1), F

    def attention_matrix(self, q: Tensor, k: Tensor) -> Tensor:
        """The implied weights on the original keys, P F ``(..., Lq, Lk)`` (O(L²), for analysis):
        with pooling, each pooled key's weight spread evenly over its segment."""
        weights, F = self._weights(q, k)
        return weights @ F

    def forward(self, q: Tensor, k: Tensor, v: Tensor, is_causal: bool = False) -> Tensor:
        if is_causal:
            raise NotImplementedError("Linformer's projection mixes future keys into every "
                                      "row: it has no causal form")
        weights, F = self._weights(q, k)
        return weights @ (F @ v)  # F V: the values projected to k rows
