"""``analysis``: what the heads of a small trained GPT do, and which of them it needs.

A :class:`~algorithms.attention.model.TinyGPT` is trained on tiny Shakespeare, then analysed on
``eval_batches × batch_size`` validation windows (:mod:`algorithms.attention.analysis`): each
head's mean attention entropy against that of uniform causal attention, its mean attention
distance, its importance I_h = E|∂L/∂ξ_h| (Michel et al., 2019, eq. 2) and the loss change
when it alone is removed, and the validation loss as heads are removed one at a time in four
orders: least important first, most important first, highest entropy first, and
``random_orders`` random orders. Logged: the training loss (x = ``train_step``), a table per
head, the pruning curves, and one validation window's attention maps.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment

PRUNING_TOLERANCE = 0.05
"""Heads count as prunable while the loss stays within this many nats of the unpruned loss
(the ``heads_prunable_within_005_nats`` summary key names it)."""


class AnalysisConfig(ExperimentConfig):
    positional: str = "rope"
    train_len: int = 64
    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    steps: int = 400
    batch_size: int = 32
    lr: float = 3e-3
    eval_batches: int = 4
    map_len: int = 32
    """Characters of the validation window whose attention maps are drawn."""
    random_orders: int = 6
    """Random pruning orders averaged."""
    log_every: int = 4
    """The training loss is logged every this many steps."""
    device: str = "cpu"
    threads: int = 1
    """Intra-op threads (0: PyTorch's default); see ``intra_op_threads``."""
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"train_len": 16, "d_model": 16, "n_layers": 2, "n_heads": 2, "steps": 12,
                  "batch_size": 8, "eval_batches": 2, "map_len": 12, "random_orders": 2,
                  "log_every": 1},
        "gpu": {"train_len": 256, "d_model": 256, "n_layers": 6, "n_heads": 8, "steps": 3000,
                "batch_size": 64, "lr": 1e-3, "eval_batches": 16, "map_len": 64,
                "log_every": 30, "device": "auto", "threads": 0},
    }


@experiment(week=3, name="analysis", covers=(3,), config=AnalysisConfig,
            units={"*.loss": "nats", "*entropy*": "nats", "*distance*": "tokens",
                   "*heads*": "heads"})
def analysis(config: AnalysisConfig, tracker: Tracker) -> dict[str, float]:
    """Attention maps, per-head entropy and distance, head importance and pruning of a small GPT."""
    import torch

    from algorithms.attention.analysis import (
        ablation_deltas,
        head_importance,
        head_statistics,
        pruning_curve,
    )
    from algorithms.attention.model import CharCorpus, GPTConfig, TinyGPT, train
    from algorithms.harness import spearman
    from algorithms.attention.profiling import device_named, intra_op_threads
    from algorithms.weeks.week03 import model_figures

    with intra_op_threads(config.threads):
        device = device_named(config.device)
        torch.manual_seed(config.seed)
        corpus = CharCorpus.shakespeare().to(device)
        model = TinyGPT(GPTConfig(corpus.vocab_size, config.d_model, config.n_layers,
                                  config.n_heads, positional=config.positional,
                                  max_len=config.train_len)).to(device)
        generator = torch.Generator().manual_seed(config.seed)
        losses = train(model, corpus, config.steps, config.batch_size, config.train_len,
                       config.lr, generator)
        for step in range(0, config.steps, config.log_every):
            tracker.log({"analysis/train_loss": losses[step]}, step=step, x="train_step")

        inputs, targets = corpus.windows("val", config.train_len,
                                         config.eval_batches * config.batch_size)
        batches = list(zip(inputs.split(config.batch_size), targets.split(config.batch_size)))
        stats = {key: value.cpu() for key, value in head_statistics(model, inputs).items()}
        importance = head_importance(model, batches).cpu()
        deltas = ablation_deltas(model, batches)
        heads = [(layer, head) for layer in range(config.n_layers)
                 for head in range(config.n_heads)]
        by_importance = sorted(heads, key=lambda h: float(importance[h]))
        by_entropy = sorted(heads, key=lambda h: -float(stats["entropy"][h]))  # diffuse first
        order_generator = torch.Generator().manual_seed(config.seed)
        curves = {"importance": pruning_curve(model, batches, by_importance),
                  "reverse": pruning_curve(model, batches, by_importance[::-1]),
                  "entropy": pruning_curve(model, batches, by_entropy)}
        random_curves = [
            pruning_curve(model, batches, [heads[i] for i in torch.randperm(
                len(heads), generator=order_generator)]) for _ in range(config.random_orders)]

        n = len(heads)
        random_mean = [sum(c[i] for c in random_curves) / len(random_curves)
                       for i in range(n + 1)]
        tracker.log_table(
            "analysis/heads", ["layer", "head", "entropy_nats", "uniform_entropy_nats",
                               "mean_distance", "importance", "ablation_loss_change",
                               "importance_rank"],
            [[layer, head, round(float(stats["entropy"][layer, head]), 4),
              round(float(stats["uniform_entropy"][layer, head]), 4),
              round(float(stats["distance"][layer, head]), 3),
              round(float(importance[layer, head]), 5), round(float(deltas[layer, head]), 5),
              by_importance[::-1].index((layer, head)) + 1] for layer, head in heads])
        tracker.log_table(
            "analysis/pruning_losses", ["heads_pruned", "importance_order", "reverse_order",
                                        "entropy_order", "random_order_mean"],
            [[i, round(curves["importance"][i], 4), round(curves["reverse"][i], 4),
              round(curves["entropy"][i], 4), round(random_mean[i], 4)] for i in range(n + 1)])

        base = curves["importance"][0]
        within = max(i for i in range(n + 1)
                     if curves["importance"][i] <= base + PRUNING_TOLERANCE)
        summary = {
            "analysis.loss.unpruned": base,
            "analysis.prune_half.importance.loss": curves["importance"][n // 2],
            "analysis.prune_half.random.loss": random_mean[n // 2],
            "analysis.prune_half.reverse.loss": curves["reverse"][n // 2],
            "analysis.prune_half.entropy.loss": curves["entropy"][n // 2],
            "analysis.prune_all.loss": curves["importance"][n],
            "analysis.heads_prunable_within_005_nats": float(within),
            "analysis.heads_total": float(n),
            "analysis.importance_vs_ablation.spearman": spearman(importance.flatten().tolist(),
                                                                 deltas.flatten().tolist()),
        }
        for layer in range(config.n_layers):
            summary[f"analysis.layer{layer}.mean_entropy"] = float(stats["entropy"][layer].mean())
            summary[f"analysis.layer{layer}.mean_distance"] = float(
                stats["distance"][layer].mean())

        sample = inputs[0, :config.map_len]
        with torch.no_grad():
            _, weights = model(sample[None], need_weights=True)
        maps = [w[0].cpu() for w in weights]
        text = [corpus.chars[int(i)] for i in sample]
        final_loss = sum(losses[-20:]) / len(losses[-20:])
        windows = len(inputs)
        tracker.log_figure("analysis/attention_maps", *model_figures.attention_maps(
            maps, text, stats, windows, final_loss, config))
        tracker.log_figure("analysis/entropy_distance", *model_figures.entropy_distance(
            stats, importance, final_loss, config))
        tracker.log_figure("analysis/pruning", *model_figures.pruning_curves(
            curves, random_curves, windows, final_loss, config))
    return summary
