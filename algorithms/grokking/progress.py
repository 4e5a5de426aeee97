"""The progress measures of Nanda et al. (2023), "Progress Measures for Grokking via Mechanistic
Interpretability", §5.1, and the Fourier basis over Z_p they are built on (§3.1, §4).

**Fourier basis.** For odd p, the p unit vectors over x ∈ Z_p

    f_0(x) = 1/√p,   f_{2k−1}(x) = √(2/p) cos(w_k x),   f_{2k}(x) = √(2/p) sin(w_k x),
    w_k = 2πk/p,  k = 1..K = (p − 1)/2,

are an orthonormal basis of R^p (:func:`fourier_basis`; the authors' ``make_fourier_basis``).

**Key frequencies.** The trained network computes with a few frequencies w_k only (§4.1): the
embedding of the numbers, W_E[:p] (p × d_model), is sparse in this basis. Its spectrum is the
squared norm per frequency, S_k = ‖f_{2k−1}ᵀ W‖² + ‖f_{2k}ᵀ W‖² (the constant f_0, a shared
offset that tells no two numbers apart, is left out); the key frequencies are the n largest
S_k, reported with the fraction Σ_key S_k / Σ_k S_k of the spectrum they hold, and the
spectrum's sparsity is the Gini coefficient of the norms √S_k (0: all equal; → 1: one).

**The logits' frequencies.** Over all p² inputs the logits are a tensor L[a, b, c]. The
algorithm of §3.1 makes them Σ_k α_k cos(w_k(a + b − c)); since cos(w(a + b − c)) =
cos(w(a+b)) cos(wc) + sin(w(a+b)) sin(wc), every such term lies in the span of the two
directions over the (a, b) grid

    u_k(a, b) = (√2/p) cos(w_k(a + b)),   v_k(a, b) = (√2/p) sin(w_k(a + b))          (1)

(unit vectors in R^{p²}, orthogonal to each other, across k, and to the constant
e_0 = 1/p), one coefficient per answer c. P_K L is the projection of L onto {u_k, v_k : k ∈ K}
for each c separately (the authors' ``get_component_cos_xpy`` / ``sin_xpy``); it keeps every
α cos(w_k(a + b − c)) and sin(w_k(a + b − c)) term of a key frequency, along with any other
c-dependence of those two directions.

* **restricted loss**: the loss of P_K L + mean_{a,b} L, the logits with every non-key
  frequency of a + b ablated; the mean over inputs (the projection on e_0) is kept, as the
  authors' bias correction does. Evaluated on all p² pairs, as their code does.
* **excluded loss**: the loss of L − P_K L, the logits with the key frequencies removed (no
  mean added back, as the authors'), evaluated on the training pairs only: how well what is
  left of the network, the part outside the key-frequency circuit, fits the training set.
* **sum of squared weights**: Σ θ² over every parameter, the quantity weight decay shrinks.

Losses are cross-entropies against c = (a + b) mod p in float64 (float32's log-softmax rounds
the tiny late-training losses to multiples of ~1e-7, the authors' ``cross_entropy_high_precision``).
The authors find the key frequencies once, in the final network, and measure every checkpoint
against them; :func:`progress_measures` takes them as ``key_freqs``, or uses the current
embedding's top n.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from algorithms.grokking.data import all_pairs


def _check_odd(p: int) -> None:
    if p < 3 or p % 2 == 0:
        raise ValueError(f"the Fourier analysis needs an odd p >= 3, got {p}")


def fourier_basis(p: int, dtype: torch.dtype = torch.float64,
                  device: torch.device | str | None = None) -> Tensor:
    """The ``(p, p)`` orthonormal basis of the module docstring, one vector per row: row 0 the
    constant, rows 2k − 1 and 2k the cosine and sine of frequency k."""
    _check_odd(p)
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.full((p,), 1 / math.sqrt(p), dtype=torch.float64)]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    basis = torch.stack(rows)
    basis[1:] *= math.sqrt(2 / p)
    return basis.to(dtype=dtype, device=device)


def fourier_names(p: int) -> list[str]:
    """The rows of :func:`fourier_basis`: ``const``, ``cos 1``, ``sin 1``, ..."""
    _check_odd(p)
    return ["const"] + [f"{f} {k}" for k in range(1, (p - 1) // 2 + 1) for f in ("cos", "sin")]


def frequency_spectrum(W: Tensor) -> Tensor:
    """S_k for k = 1..K of a ``(p, d)`` matrix whose rows are indexed by x ∈ Z_p: the squared
    norm of its cos and sin coefficients of frequency k, float64 ``(K,)`` (entry k − 1)."""
    power = (fourier_basis(W.shape[0], device=W.device) @ W.double()).pow(2).sum(dim=-1)
    return power[1::2] + power[2::2]


def embedding_spectrum(model: Any) -> Tensor:
    """The spectrum of the number embeddings W_E[:p] (the '=' row is not a number)."""
    return frequency_spectrum(model.W_E.detach()[: model.p])


def key_frequencies(spectrum: Tensor, n: int) -> tuple[tuple[int, ...], float]:
    """The n frequencies k (1-based, ascending) with the largest S_k, and the fraction of
    Σ_k S_k they hold."""
    if not 1 <= n <= len(spectrum):
        raise ValueError(f"n must be in 1..{len(spectrum)}, got {n}")
    top = torch.topk(spectrum, n).indices
    return (tuple(sorted(int(i) + 1 for i in top)),
            float(spectrum[top].sum() / spectrum.sum()))


def gini(spectrum: Tensor) -> float:
    """The Gini coefficient of the norms √S_k: Σ_i (2i − K − 1) x_(i) / (K Σ x), the x_(i)
    sorted ascending (0 when all are equal, (K − 1)/K when one holds everything)."""
    x = spectrum.double().clamp_min(0).sqrt().sort().values
    K = len(x)
    i = torch.arange(1, K + 1, dtype=x.dtype, device=x.device)
    return float(((2 * i - K - 1) * x).sum() / (K * x.sum()))


def _sums(p: int, device: torch.device) -> Tensor:
    """(a + b) mod p on the ``(p, p)`` grid."""
    r = torch.arange(p, device=device)
    return (r[:, None] + r[None, :]) % p


def sum_coefficients(logits: Tensor) -> Tensor:
    """C[j, c] = Σ_{a,b} e_j(a, b) L[a, b, c] for the unit directions e_j(a, b) =
    f_j((a + b) mod p)/√p over the grid: e_0 = 1/p, then u_k, v_k of eq. (1). ``(p, p)``,
    float64. Computed as the sums over each diagonal a + b ≡ s, then the 1-D basis over s."""
    p = logits.shape[0]
    _check_shape(logits)
    diag = torch.zeros(p, p, dtype=torch.float64, device=logits.device)
    diag.index_add_(0, _sums(p, logits.device).reshape(-1), logits.double().reshape(p * p, p))
    return fourier_basis(p, device=logits.device) @ diag / math.sqrt(p)


def logit_spectrum(logits: Tensor) -> Tensor:
    """Σ_c (C[2k−1, c]² + C[2k, c]²) for k = 1..K: the squared norm of the logits along the
    u_k, v_k directions of eq. (1), float64 ``(K,)``."""
    power = sum_coefficients(logits).pow(2).sum(dim=-1)
    return power[1::2] + power[2::2]


def _project(logits: Tensor, rows: list[int]) -> Tensor:
    """The projection of L onto the directions e_j, j ∈ rows, for every c: ``(p, p, p)``."""
    p = logits.shape[0]
    coefficients = sum_coefficients(logits)
    basis = fourier_basis(p, device=logits.device)[rows]
    # Σ_j e_j(a, b) C[j, c] depends on (a, b) through s = a + b only: tabulate over s, gather
    table = basis.T @ coefficients[rows] / math.sqrt(p)
    return table[_sums(p, logits.device)]


def _rows(freqs: tuple[int, ...] | list[int], p: int) -> list[int]:
    K = (p - 1) // 2
    if not freqs or any(not 1 <= int(k) <= K for k in freqs) or len(set(freqs)) != len(freqs):
        raise ValueError(f"frequencies must be distinct, in 1..{K}, got {freqs!r}")
    return [j for k in freqs for j in (2 * int(k) - 1, 2 * int(k))]


def key_component(logits: Tensor, freqs: tuple[int, ...] | list[int]) -> Tensor:
    """P_K L: the logits' components along u_k and v_k (eq. 1) for k ∈ ``freqs``."""
    return _project(logits, _rows(freqs, logits.shape[0]))


def restricted_logits(logits: Tensor, freqs: tuple[int, ...] | list[int]) -> Tensor:
    """P_K L + mean_{a,b} L: only the key frequencies of a + b, and the input-independent mean."""
    return _project(logits, [0] + _rows(freqs, logits.shape[0]))


def excluded_logits(logits: Tensor, freqs: tuple[int, ...] | list[int]) -> Tensor:
    """L − P_K L: the logits with the key frequencies of a + b removed."""
    return logits.double() - key_component(logits, freqs)


def _check_shape(logits: Tensor) -> None:
    if logits.dim() != 3 or len(set(logits.shape)) != 1:
        raise ValueError(f"logits must be (p, p, p) over [a, b, c], got {tuple(logits.shape)}")


def grid_loss(logits: Tensor, mask: Tensor | None = None) -> float:
    """The mean cross-entropy of L[a, b, :] against c = (a + b) mod p over the pairs where
    ``mask (p, p)`` is True (all pairs without one), float64."""
    _check_shape(logits)
    p = logits.shape[0]
    logp = F.log_softmax(logits.double(), dim=-1)
    nll = -logp.gather(-1, _sums(p, logits.device)[..., None])[..., 0]
    return float(nll.mean() if mask is None else nll[mask.to(logits.device)].mean())


def grid_accuracy(logits: Tensor, mask: Tensor | None = None) -> float:
    """The fraction of the masked pairs whose largest logit is at c = (a + b) mod p."""
    _check_shape(logits)
    right = (logits.argmax(dim=-1) == _sums(logits.shape[0], logits.device)).double()
    return float(right.mean() if mask is None else right[mask.to(logits.device)].mean())


def restricted_loss(logits: Tensor, freqs: tuple[int, ...] | list[int],
                    mask: Tensor | None = None) -> float:
    """:func:`grid_loss` of :func:`restricted_logits` (all pairs by default)."""
    return grid_loss(restricted_logits(logits, freqs), mask)


def excluded_loss(logits: Tensor, freqs: tuple[int, ...] | list[int], mask: Tensor) -> float:
    """:func:`grid_loss` of :func:`excluded_logits` over ``mask`` (the training pairs)."""
    return grid_loss(excluded_logits(logits, freqs), mask)


def sum_squared_weights(model: torch.nn.Module) -> float:
    """Σ θ² over every parameter."""
    return float(sum(param.detach().double().pow(2).sum() for param in model.parameters()))


@torch.no_grad()
def grid_logits(model: Any) -> Tensor:
    """The model's last-position logits on every pair, as ``(p, p, p)`` over [a, b, c]."""
    p = model.p
    x, _ = all_pairs(p)
    device = next(model.parameters()).device
    return model(x.to(device), last_only=True)[:, -1].reshape(p, p, p)


def progress_measures(model: Any, train_mask: Tensor, n_key: int = 5,
                      key_freqs: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Every measure of the module docstring from one pass over the p² pairs.

    Returns floats ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (``train_mask``
    and its complement), ``restricted_loss`` (all pairs), ``excluded_loss`` (training pairs),
    ``key_fraction`` (the embedding spectrum's share in the key frequencies), ``gini`` (of the
    embedding spectrum), ``sum_squared_weights``; and ``key_frequencies`` (``key_freqs`` when
    given, else the embedding's top ``n_key``) and ``spectrum`` (the embedding's S_k, a list)."""
    was_training = model.training
    model.eval()
    logits = grid_logits(model)
    model.train(was_training)
    train_mask = train_mask.to(logits.device)
    spectrum = embedding_spectrum(model)
    top, fraction = key_frequencies(spectrum, n_key)
    freqs = tuple(key_freqs) if key_freqs is not None else top
    if key_freqs is not None:
        fraction = float(spectrum[[k - 1 for k in freqs]].sum() / spectrum.sum())
    return {
        "train_loss": grid_loss(logits, train_mask), "train_acc": grid_accuracy(logits, train_mask),
        "test_loss": grid_loss(logits, ~train_mask), "test_acc": grid_accuracy(logits, ~train_mask),
        "restricted_loss": restricted_loss(logits, freqs),
        "excluded_loss": excluded_loss(logits, freqs, train_mask),
        "key_fraction": fraction, "gini": gini(spectrum),
        "sum_squared_weights": sum_squared_weights(model),
        "key_frequencies": freqs, "spectrum": spectrum.tolist(),
    }
