"""The one-layer transformer of Nanda et al. (2023), "Progress Measures for Grokking via
Mechanistic Interpretability", §3: no LayerNorm, learned positional embeddings, an untied
unembedding, written out weight by weight so that the analysis can read them by name.

For tokens t_1..t_T (T ≤ n_ctx = 3: a, b, '='), with h heads of d_head = d_model / h:

    x_0 = W_E[t] + W_pos[:T]                                                     (embed)
    q_i = x_0 W_Q[i],  k_i = x_0 W_K[i],  v_i = x_0 W_V[i]
    A_i = softmax(q_i k_iᵀ / √d_head + M),   M_st = −∞ for t > s              (causal)
    x_1 = x_0 + Σ_i A_i v_i W_O[i]                                               (attention)
    x_2 = x_1 + ReLU(x_1 W_in + b_in) W_out + b_out                              (MLP)
    logits = x_2 W_U                                                             (unembed)

Shapes: W_E (p + 1, d_model), the last row the '=' token; W_pos (n_ctx, d_model); W_Q, W_K,
W_V (h, d_model, d_head); W_O (h, d_head, d_model); W_in (d_model, d_mlp); W_out (d_mlp,
d_model); W_U (d_model, p): the answer is a number, never '=', so there are p outputs (the
authors' code unembeds to p + 1 and drops the last). The attention has no biases, as theirs.
The neuron-logit map W_L = W_out W_U (§4.2) is :attr:`GrokTransformer.W_logit`.

Initialisation follows the authors' code: every weight N(0, 1/d_model) except W_U,
N(0, 1/(p + 1)); the MLP biases start at 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GrokTransformer(nn.Module):
    """a b = → logits over the p answers at every position ``(B, T, p)``; use the last."""

    def __init__(self, p: int, d_model: int = 128, n_heads: int = 4, d_mlp: int = 512,
                 n_ctx: int = 3, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.p, self.d_model, self.n_heads = p, d_model, n_heads
        self.d_mlp, self.n_ctx = d_mlp, n_ctx
        self.d_head = d_head = d_model // n_heads
        d_vocab = p + 1

        def normal(*shape: int, std: float) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape, generator=generator) * std)

        s = 1 / math.sqrt(d_model)
        self.W_E = normal(d_vocab, d_model, std=s)
        self.W_pos = normal(n_ctx, d_model, std=s)
        self.W_Q = normal(n_heads, d_model, d_head, std=s)
        self.W_K = normal(n_heads, d_model, d_head, std=s)
        self.W_V = normal(n_heads, d_model, d_head, std=s)
        self.W_O = normal(n_heads, d_head, d_model, std=s)
        self.W_in = normal(d_model, d_mlp, std=s)
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = normal(d_mlp, d_model, std=s)
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.W_U = normal(d_model, p, std=1 / math.sqrt(d_vocab))
        self.register_buffer("causal", torch.ones(n_ctx, n_ctx, dtype=torch.bool).tril(),
                             persistent=False)

    @property
    def W_logit(self) -> Tensor:
        """The neuron-logit map W_out W_U ``(d_mlp, p)``: each neuron's direct effect on the
        logits (the MLP output reaches the unembedding through the residual stream alone)."""
        return self.W_out @ self.W_U

    def forward(self, tokens: Tensor, cache: dict[str, Tensor] | None = None,
                last_only: bool = False) -> Tensor:
        """``tokens (B, T)`` → ``logits (B, T, p)``. ``last_only`` returns ``(B, 1, p)``, the
        values of ``forward(tokens)[:, -1:]`` up to rounding, computing only what the last
        position reads: keys and values at every position, the queries, MLP and unembedding at
        the last (one layer: nothing reads the earlier positions' outputs). A dict passed as
        ``cache`` receives the activations at the positions computed: ``attn`` (B, h, T', T),
        ``resid_mid`` (B, T', d_model), ``pre`` and ``post`` (B, T', d_mlp, before and after the
        ReLU), ``resid_post`` (B, T', d_model), T' = 1 with ``last_only``, else T."""
        T = tokens.shape[1]
        if T > self.n_ctx:
            raise ValueError(f"{T} tokens exceed n_ctx = {self.n_ctx}")
        x = self.W_E[tokens] + self.W_pos[:T]
        k = torch.einsum("btd,hde->bhte", x, self.W_K)
        v = torch.einsum("btd,hde->bhte", x, self.W_V)
        if last_only:
            x = x[:, -1:]
        q = torch.einsum("btd,hde->bhte", x, self.W_Q)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        causal = self.causal[:T, :T][T - x.shape[1]:]  # the query rows computed
        attn = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        x = x + torch.einsum("bhte,hed->btd", attn @ v, self.W_O)
        pre = x @ self.W_in + self.b_in
        post = torch.relu(pre)
        resid_post = x + post @ self.W_out + self.b_out
        if cache is not None:
            cache.update(attn=attn, resid_mid=x, pre=pre, post=post, resid_post=resid_post)
        return resid_post @ self.W_U
