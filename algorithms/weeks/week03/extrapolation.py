"""``extrapolation``: train at length L, evaluate at multiples of L, for each positional encoding.

For each encoding in ``encodings`` a :class:`~algorithms.attention.model.TinyGPT` is trained
from the same initial seed on the same batches of tiny Shakespeare windows of ``train_len``
characters (the encoding is the only difference), then evaluated on ``eval_windows``
non-overlapping validation windows of ``train_len × f`` characters for each ``f`` in
``eval_factors``. Logged: the training-loss curves (x = ``train_step``), the validation loss in
nats per character at every length, the ratio of the loss at the longest length to the loss at
L, and the loss at each position of the longest windows.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment


class ExtrapolationConfig(ExperimentConfig):
    encodings: tuple[str, ...] = ("none", "sinusoidal", "learned", "shaw", "rope", "alibi")
    train_len: int = 64
    eval_factors: tuple[int, ...] = (1, 2, 4, 8)
    """Evaluation lengths as multiples of ``train_len``, shortest first."""
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    shaw_max_distance: int = 16
    """Shaw et al.'s clipping distance k: offsets beyond ±k share one vector."""
    eval_windows: int = 192
    """Non-overlapping validation windows per length (at most 217 windows of 8 × 64 fit)."""
    eval_tokens_per_pass: int = 8192
    """Windows evaluated per forward pass hold at most this many tokens (at least one window),
    which bounds the L × L attention memory at the longest lengths."""
    log_every: int = 3
    """The training loss is logged every this many steps."""
    device: str = "cpu"
    threads: int = 1
    """Intra-op threads (0: PyTorch's default); see ``intra_op_threads``."""
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"train_len": 16, "eval_factors": (1, 2, 4), "d_model": 16, "n_heads": 2,
                  "n_layers": 1, "steps": 12, "batch_size": 8, "eval_windows": 2,
                  "log_every": 1},
        "gpu": {"train_len": 256, "d_model": 256, "n_layers": 4, "n_heads": 8, "steps": 3000,
                "batch_size": 64, "lr": 1e-3, "shaw_max_distance": 64, "eval_windows": 32,
                "log_every": 30, "device": "auto", "threads": 0},
    }


@experiment(week=3, name="extrapolation", covers=(4,), config=ExtrapolationConfig,
            units={"*loss": "nats", "*.ratio": "×"})
def extrapolation(config: ExtrapolationConfig, tracker: Tracker) -> dict[str, float]:
    """Train at length L, test at 2L/4L/8L: each positional encoding on tiny Shakespeare."""
    import torch

    from algorithms.attention.model import CharCorpus, GPTConfig, TinyGPT, train
    from algorithms.attention.positional import ENCODING_LABELS
    from algorithms.attention.profiling import device_named, intra_op_threads
    from algorithms.weeks.week03 import model_figures

    with intra_op_threads(config.threads):
        device = device_named(config.device)
        corpus = CharCorpus.shakespeare().to(device)
        lengths = [config.train_len * f for f in config.eval_factors]
        eval_sets = {n: corpus.windows("val", n, config.eval_windows) for n in lengths}
        first, longest = config.eval_factors[0], max(config.eval_factors)
        summary: dict[str, float] = {}
        rows, curves, per_position, by_encoding = [], {}, {}, {}
        for encoding in tracker.track(config.encodings, total=len(config.encodings),
                                      description="extrapolation"):
            torch.manual_seed(config.seed)
            model = TinyGPT(GPTConfig(corpus.vocab_size, config.d_model, config.n_layers,
                                      config.n_heads, positional=encoding, max_len=max(lengths),
                                      max_relative_distance=config.shaw_max_distance)).to(device)
            # the same batches for every encoding: the encodings are the only difference
            generator = torch.Generator().manual_seed(config.seed)
            curves[encoding] = train(model, corpus, config.steps, config.batch_size,
                                     config.train_len, config.lr, generator)
            losses = {}
            with torch.no_grad():
                for factor, n in zip(config.eval_factors, lengths):
                    inputs, targets = eval_sets[n]
                    chunk = max(1, config.eval_tokens_per_pass // n)
                    position_loss = torch.cat([
                        model.loss(x, y, reduction="none")
                        for x, y in zip(inputs.split(chunk), targets.split(chunk))
                    ]).mean(dim=0).cpu()
                    losses[factor] = float(position_loss.mean())
                    if n == max(lengths):
                        per_position[encoding] = position_loss
            by_encoding[encoding] = losses
            for factor, loss in losses.items():
                summary[f"extrapolation.{encoding}.len{factor}x.loss"] = loss
            last = curves[encoding][-20:]
            summary[f"extrapolation.{encoding}.train_loss"] = sum(last) / len(last)
            ratio = losses[longest] / losses[first]
            summary[f"extrapolation.{encoding}.len{longest}x_over_len1x.ratio"] = ratio
            rows.append([config.seed, ENCODING_LABELS[encoding]]
                        + [round(losses[f], 4) for f in config.eval_factors] + [round(ratio, 4)])

        for step in range(0, config.steps, config.log_every):
            tracker.log({f"extrapolation/{e}/train_loss": curve[step]
                         for e, curve in curves.items()}, step=step, x="train_step")
        tracker.log_table(
            "extrapolation/loss_by_length",
            ["seed", "encoding"] + [f"loss_{f}x_{config.train_len * f}"
                                    for f in config.eval_factors] + [f"ratio_{longest}x_to_1x"],
            rows)
        tracker.log_figure("extrapolation/loss_vs_length",
                           *model_figures.extrapolation_loss_vs_length(by_encoding, config))
        tracker.log_figure("extrapolation/loss_by_position",
                           *model_figures.extrapolation_loss_by_position(per_position, config))
    return summary
