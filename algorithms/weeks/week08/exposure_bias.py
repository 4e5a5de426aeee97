"""``exposure-bias``: teacher forcing vs free running, measured against a language whose true
probabilities are known.

The data is an order-3 Markov chain over a small vocabulary (``algorithms.lm.synthetic``:
Dirichlet rows, peaky like language), so at any prefix the true next-token distribution p is
known and the model's error KL(p ‖ q) is computed exactly, not estimated. The same LM as the
rest of the week is trained on samples of it by teacher forcing, once briefly and once for
longer; then ``algorithms.lm.exposure`` measures, position by position after a prompt, the
error at the source's own prefixes (teacher forced: what training optimises) and at the
model's own samples (free running: what generation sees). Bengio et al. (2015), "Scheduled
Sampling", §1, name the gap: errors compound once the model conditions on its own output.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment
from algorithms.weeks.week08.base import UNITS


class ExposureConfig(ExperimentConfig):
    vocab_size: int = 12
    order: int = 3
    concentration: float = 0.1
    """Dirichlet α of each transition row: small = few likely successors per context (much
    smaller and float64 rows underflow to exact zeros, which the source then forbids)."""
    train_sequences: int = 1000
    sequence_length: int = 128
    model: dict[str, Any] = {"d_model": 64, "n_layers": 2, "n_heads": 4, "max_seq_len": 128}
    train: dict[str, Any] = {"batch_size": 32, "block_size": 64, "lr": 3e-3, "warmup_steps": 20,
                             "beta2": 0.99, "eval_every": 50, "eval_batches": 10,
                             "log_every": 10}
    budgets: dict[str, int] = {"brief": 60, "long": 600}
    """Training steps of each model: the label is the metric key."""
    n_sequences: int = 256
    generate_tokens: int = 64
    prompt_len: int = 4
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"vocab_size": 6, "train_sequences": 40, "sequence_length": 40,
                  "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "max_seq_len": 32},
                  "train": {"batch_size": 4, "block_size": 16, "warmup_steps": 1,
                            "eval_every": 2, "eval_batches": 2, "log_every": 1},
                  "budgets": {"brief": 2, "long": 4}, "n_sequences": 4, "generate_tokens": 8},
        "gpu": {"vocab_size": 24, "train_sequences": 20_000, "n_sequences": 2048,
                "model": {"d_model": 256, "n_layers": 4, "n_heads": 4, "max_seq_len": 256},
                "budgets": {"brief": 200, "long": 4000}, "generate_tokens": 192}}


@experiment(week=8, name="exposure-bias", covers=(1,), config=ExposureConfig, units=UNITS)
def exposure_bias(config: ExposureConfig, tracker: Tracker) -> dict[str, float]:
    """KL to a known Markov source, teacher forced vs free running, against generation step."""
    import numpy as np
    import torch

    from algorithms.lm.config import LMConfig
    from algorithms.lm.exposure import exposure_bias as measure
    from algorithms.lm.model import LanguageModel
    from algorithms.lm.synthetic import MarkovSource
    from algorithms.lm.train import TrainConfig, train
    from algorithms.weeks.week08.common import device
    from algorithms.weeks.week08.figures import exposure_panels

    source = MarkovSource.random(config.vocab_size, config.order, config.concentration,
                                 seed=config.seed)
    rng = np.random.default_rng(config.seed)
    tokens = source.sample(config.train_sequences, config.sequence_length, rng).reshape(-1)
    cut = int(0.9 * len(tokens))
    train_tokens, val_tokens = tokens[:cut].astype(np.int64), tokens[cut:].astype(np.int64)
    entropy = source.entropy_rate()
    curves, summary = {}, {"source.entropy_rate": round(entropy, 4)}
    for budget, steps in config.budgets.items():
        torch.manual_seed(config.seed)
        model = LanguageModel(LMConfig(vocab_size=config.vocab_size, **config.model))
        run = TrainConfig(steps=steps, seed=config.seed, **config.train)

        def on_log(row: dict[str, Any], budget: str = budget) -> None:
            names = ("train_loss",) if "train_loss" in row else ("val_loss",)
            tracker.log({f"exposure/{budget}/{name}": row[name] for name in names},
                        step=row["step"], x="train_step")

        result = train(model, train_tokens, val_tokens, run, on_log=on_log, device=device())
        net = result.model.eval()

        def next_log_probs(prefix: torch.Tensor, net=net) -> torch.Tensor:
            with torch.no_grad():
                return net(prefix.to(next(net.parameters()).device))[:, -1].float() \
                    .log_softmax(-1).cpu()

        found = measure(next_log_probs, source, config.n_sequences, config.generate_tokens,
                        config.prompt_len, seed=config.seed)
        curves[budget] = found
        for i, t in enumerate(found.positions):
            tracker.log({f"exposure/{budget}/kl_teacher_forced": found.kl_teacher_forced[i],
                         f"exposure/{budget}/kl_free_running": found.kl_free_running[i]},
                        step=int(t), x="generation_step")
        summary.update({f"{budget}.{name}": round(float(value), 4)
                        for name, value in found.summary().items() if name != "entropy_rate"})
        summary[f"{budget}.val_loss"] = round(result.final_val_loss, 4)
        summary[f"{budget}.steps"] = steps

    rows = [[budget, config.budgets[budget], round(summary[f"{budget}.val_loss"], 4),
             round(found.summary()["kl_tf_mean"], 4), round(found.summary()["kl_fr_mean"], 4),
             round(found.summary()["kl_fr_last"], 4), round(found.summary()["kl_fr_slope"], 5)]
            for budget, found in curves.items()]
    tracker.log_table("exposure/kl", ["model", "training steps", "val loss", "KL teacher forced",
                                      "KL free running", "KL free running (last 5 steps)",
                                      "free-running KL slope per step"], rows)
    tracker.log_figure("exposure/kl_by_step", exposure_panels(curves, entropy),
                       f"Exact KL(p ‖ q) from the true order-{config.order} Markov source to the "
                       f"model at each generation step after a {config.prompt_len}-token prompt, "
                       f"at the source's prefixes (teacher forced) and at the model's own "
                       f"samples (free running), mean and 95% interval over "
                       f"{config.n_sequences} sequences.")
    return summary
