"""Reading and rewriting the residual stream of :class:`algorithms.lm.model.LanguageModel` with
forward hooks, so the model itself is untouched.

Site ``layer = -1`` is the token embeddings (the stream before block 0); ``layer = i ≥ 0`` is
block i's output, the stream after it.

* :func:`collect_activations`: the stream at one site, every position, for SAE training.
* :func:`spliced_loss`: the next-token loss with the stream at one site replaced by a function
  of itself: an SAE's reconstruction, zeros, the mean. The SAE's loss-recovered score is
  (L_ablated − L_spliced) / (L_ablated − L_clean) (Bricken et al. 2023).
* :func:`patching_effects`: activation patching (Meng et al. 2022, causal tracing; Wang et al.
  2022, IOI): run the model on a corrupted input, overwrite the stream at one (site, position)
  with its value on the clean input, and measure how much of the clean behaviour comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def site_module(model: nn.Module, layer: int) -> nn.Module:
    layers = model.model.layers
    if not -1 <= layer < len(layers):
        raise ValueError(f"layer {layer} is not a site of a {len(layers)}-layer model "
                         "(-1 is the embeddings)")
    return model.model.embed_tokens if layer == -1 else layers[layer]


@contextmanager
def rewrite(model: nn.Module, layer: int, fn: Callable[[Tensor], Tensor | None]) -> Iterator[None]:
    """Within the block, the stream at site ``layer`` is replaced by ``fn(stream)`` (``fn`` may
    return None to leave it, after reading it)."""
    handle = site_module(model, layer).register_forward_hook(lambda _m, _i, out: fn(out))
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def collect_activations(model: nn.Module, layer: int, rows: Tensor,
                        batch_size: int = 32) -> Tensor:
    """The stream at site ``layer`` for token rows ``(B, T)``: ``(B · T, d_model)``."""
    seen: list[Tensor] = []

    def keep(out: Tensor) -> None:
        seen.append(out.detach().reshape(-1, out.shape[-1]).float())

    model.eval()
    with rewrite(model, layer, keep):
        for chunk in rows.split(batch_size):
            model(chunk)
    return torch.cat(seen)


@torch.no_grad()
def spliced_loss(model: nn.Module, layer: int, rows: Tensor,
                 replace: Callable[[Tensor], Tensor] | None = None,
                 batch_size: int = 32) -> float:
    """Mean next-token cross-entropy over token rows ``(B, T)`` (targets: the rows shifted by
    one), with the stream at site ``layer`` replaced by ``replace(stream)`` (None: clean)."""
    model.eval()
    total, count = 0.0, 0
    for chunk in rows.split(batch_size):
        inputs, targets = chunk[:, :-1], chunk[:, 1:]
        if replace is None:
            logits = model(inputs)
        else:
            with rewrite(model, layer, replace):
                logits = model(inputs)
        total += float(F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(),
                                       reduction="sum"))
        count += targets.numel()
    return total / count


@torch.no_grad()
def patching_effects(model: nn.Module, clean: Tensor, corrupt: Tensor,
                     metric: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Activation patching of the residual stream, clean → corrupt, at every site and position.

    ``clean`` and ``corrupt`` are token rows ``(B, T)`` of one length that differ in a few
    positions; ``metric(logits)`` maps the last position's logits ``(B, V)`` to a score per row
    (e.g. a logit difference). Returns (clean score, corrupt score, patched[site, position]),
    sites -1 (embeddings) to n_layers − 1, each patched score the mean over rows; the recovered
    fraction is (patched − corrupt) / (clean − corrupt)."""
    if clean.shape != corrupt.shape:
        raise ValueError(f"clean {tuple(clean.shape)} and corrupt {tuple(corrupt.shape)} "
                         "rows must have one shape")
    model.eval()
    n_layers, T = len(model.model.layers), clean.shape[1]
    cached: dict[int, Tensor] = {}
    with ExitStack() as stack:  # one clean run reads every site
        for layer in range(-1, n_layers):
            stack.enter_context(rewrite(model, layer,
                                        lambda out, layer=layer: cached.__setitem__(layer, out)))
        clean_logits = model(clean)[:, -1]
    clean_score = metric(clean_logits).mean()
    corrupt_score = metric(model(corrupt)[:, -1]).mean()
    patched = torch.zeros(n_layers + 1, T)
    for layer in range(-1, n_layers):
        for position in range(T):
            def patch(out: Tensor, layer: int = layer, position: int = position) -> Tensor:
                out = out.clone()
                out[:, position] = cached[layer][:, position]
                return out

            with rewrite(model, layer, patch):
                patched[layer + 1, position] = metric(model(corrupt)[:, -1]).mean()
    return clean_score, corrupt_score, patched
