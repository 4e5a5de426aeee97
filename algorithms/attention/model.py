"""A minimal GPT (nanoGPT-style) whose positional encoding is a switch, and a character corpus.

Radford et al. (2019) "Language Models are Unsupervised Multitask Learners" block layout
(pre-LayerNorm): x + MHA(LN(x)), then x + MLP(LN(x)), GELU MLP of width 4d, tied input and
output embeddings, no dropout. Only the positional encoding changes between the models of the
length-extrapolation experiment (``positional`` is one of ``POSITIONAL_ENCODINGS``):

* "none" (NoPE): the causal mask is the only source of order;
* "sinusoidal", "learned": added to the token embeddings;
* "shaw", "rope", "alibi": inside every attention layer (:mod:`algorithms.attention.multihead`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from algorithms.attention.multihead import KVCache, MultiHeadAttention
from algorithms.attention.positional import (
    POSITIONAL_ENCODINGS,
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
)

DATA = Path(__file__).resolve().parents[1] / "data"
INIT_STD = 0.02  # GPT-2's initialisation of every weight and embedding


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int | None = None
    positional: str = "rope"
    max_len: int = 512  # rows of the learned table (positions beyond training stay untrained)
    max_relative_distance: int = 16  # Shaw's clipping distance k


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = MultiHeadAttention(config.d_model, config.n_heads, config.n_kv_heads,
                                       config.positional, config.max_relative_distance)
        self.ln_2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(nn.Linear(config.d_model, 4 * config.d_model), nn.GELU(),
                                 nn.Linear(4 * config.d_model, config.d_model))

    def forward(self, x: Tensor, cache: KVCache | None = None, head_mask: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        attended, weights = self.attn(self.ln_1(x), cache, head_mask, need_weights)
        x = x + attended
        return x + self.mlp(self.ln_2(x)), weights


class TinyGPT(nn.Module):
    """Decoder-only transformer for next-token prediction; see the module docstring."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.positional not in POSITIONAL_ENCODINGS:
            raise ValueError(f"positional must be one of {POSITIONAL_ENCODINGS}, "
                             f"not {config.positional!r}")
        self.config = config
        self.token = nn.Embedding(config.vocab_size, config.d_model)
        # the sinusoids scaled to the RMS of the embeddings (s.d. 0.02): sin and cos have RMS
        # 1/√2, and at full size (RMS 35× the embeddings') they swamp the tokens
        self.absolute = {"sinusoidal": lambda: SinusoidalPositionalEncoding(
                            config.d_model, scale=INIT_STD * math.sqrt(2)),
                         "learned": lambda: LearnedPositionalEmbedding(config.max_len,
                                                                       config.d_model),
                         }.get(config.positional, lambda: None)()
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.token.weight  # weight tying (Press & Wolf, 2017)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=INIT_STD)

    @property
    def n_heads_total(self) -> int:
        return self.config.n_layers * self.config.n_heads

    def forward(self, idx: Tensor, caches: list[KVCache] | None = None,
                head_mask: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, list[Tensor]]:
        """Logits ``(B, L, vocab)`` and, if asked, each layer's weights ``(B, h, L, L_k)``.

        ``head_mask`` is ``(n_layers, n_heads)``: 1 keeps a head, 0 prunes it. ``caches`` (one
        :class:`KVCache` per layer) turns on incremental decoding from position ``cache.length``.
        """
        start = caches[0].length if caches else 0
        x = self.token(idx)
        if self.absolute is not None:
            x = x + self.absolute(torch.arange(start, start + idx.shape[1], device=idx.device))
        weights = []
        for layer, block in enumerate(self.blocks):
            x, w = block(x, caches[layer] if caches else None,
                         head_mask[layer] if head_mask is not None else None, need_weights)
            weights.append(w)
        return self.head(self.ln_f(x)), weights if need_weights else []

    def loss(self, idx: Tensor, targets: Tensor, head_mask: Tensor | None = None,
             reduction: str = "mean") -> Tensor:
        """Next-token cross-entropy in nats: the mean, or per position (``reduction="none"``)."""
        logits, _ = self(idx, head_mask=head_mask)
        losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
        return losses.view_as(targets) if reduction == "none" else losses.mean()

    def new_caches(self, batch: int, max_len: int) -> list[KVCache]:
        attn = self.blocks[0].attn
        dtype = self.token.weight.dtype
        return [KVCache(batch, attn.n_kv_heads, max_len, attn.head_dim, dtype,
                        self.token.weight.device) for _ in self.blocks]


class CharCorpus:
    """A text file as a tensor of character ids, split into train and validation parts."""

    def __init__(self, text: str, val_fraction: float = 0.1):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}
        data = torch.tensor([self.index[c] for c in text], dtype=torch.long)
        split = int(len(data) * (1 - val_fraction))
        self.train, self.val = data[:split], data[split:]

    @classmethod
    def shakespeare(cls, max_chars: int | None = None) -> CharCorpus:
        text = (DATA / "shakespeare" / "tinyshakespeare.txt").read_text(encoding="utf-8")
        return cls(text[:max_chars] if max_chars else text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def to(self, device: torch.device | str) -> CharCorpus:
        """Move the text to ``device`` (in place, like ``nn.Module.to``), so that batches and
        evaluation windows are cut where the model runs; the sampling generator stays on the CPU,
        so the windows drawn do not depend on the device."""
        self.train, self.val = self.train.to(device), self.val.to(device)
        return self

    def batch(self, split: str, batch_size: int, length: int,
              generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Random windows: inputs ``(B, length)`` and next-character targets."""
        data = self.train if split == "train" else self.val
        starts = torch.randint(0, len(data) - length - 1, (batch_size,), generator=generator)
        windows = torch.stack([data[s:s + length + 1] for s in starts.tolist()])
        return windows[:, :-1], windows[:, 1:]

    def windows(self, split: str, length: int, n_windows: int) -> tuple[Tensor, Tensor]:
        """``n_windows`` evenly spaced, non-overlapping windows (a deterministic evaluation set)."""
        data = self.train if split == "train" else self.val
        stride = (len(data) - length - 1) // max(n_windows, 1)
        if stride < length:
            raise ValueError(f"{n_windows} windows of {length} do not fit in {len(data)} chars")
        windows = torch.stack([data[i * stride:i * stride + length + 1]
                               for i in range(n_windows)])
        return windows[:, :-1], windows[:, 1:]


def train(model: TinyGPT, corpus: CharCorpus, steps: int, batch_size: int, length: int,
          lr: float, generator: torch.Generator, weight_decay: float = 0.01,
          on_step=None) -> list[float]:
    """AdamW with linear warm-up (first 10%) and cosine decay to 10%; returns the step losses."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95),
                                  weight_decay=weight_decay)
    warmup = max(1, steps // 10)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + torch.cos(torch.tensor(progress * torch.pi)).item())

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    losses = []
    for step in range(steps):
        inputs, targets = corpus.batch("train", batch_size, length, generator)
        loss = model.loss(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    return losses
