"""``sparse-autoencoders``: sparse autoencoders (:mod:`algorithms.interpretability.sae`) on the
residual stream of week 8's base model, after block ``layer``.

The activations are the stream at every position of windows of held-out TinyStories text (the
first ``train_tokens`` for training, the next ``eval_tokens`` for every metric). For each L1
coefficient λ of ``l1s`` and each of ``n_seeds`` seeds, an SAE with ``expansion`` × d_model
features is trained, with dead features resampled, and measured on the evaluation tokens:

* L0, the fraction of variance explained, the dead fraction (no activation on any evaluation
  token), the features resampled in training;
* the loss recovered with the SAE spliced into the forward pass, (L_ablated − L_SAE) /
  (L_ablated − L_clean), against two ablations of the stream at that site: zeros (Bricken et
  al.'s score) and its mean over the training tokens (both ablated losses are reported, since
  the score is only as informative as its baseline is bad), and the spliced loss's increase
  over the clean loss, in nats: the number that does not depend on a baseline.

The trade-off between L0 and loss recovered over λ is one figure; the first seed's SAE at the
middle λ gets **feature dashboards**: for the most frequent live features and a seeded random
sample of the others, the contexts of their highest activations, as a table.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL

UNITS = {"*l0": "features", "*explained_variance": "fraction", "*dead_fraction": "fraction",
         "*loss_recovered*": "fraction", "*loss_increase": "nats", "*resampled": "features",
         "*tokens": "tokens", "*loss": "nats"}


class SAEExperimentConfig(ExperimentConfig):
    layer: int = 1  # the stream after this block (of week 8's 4 at the cpu profile)
    expansion: int = 8
    l1s: list[float] = [0.3, 1.0, 3.0]
    sae: dict[str, Any] = {"steps": 2_000, "batch_size": 512, "lr": 1e-3,
                           "resample_every": 500, "dead_window": 250}
    train_tokens: int = 100_000
    eval_tokens: int = 16_384
    window: int = 128  # tokens per row fed to the model
    n_seeds: int = 3
    dashboard_frequent: int = 4  # dashboards of the most frequent live features ...
    dashboard_random: int = 4  # ... and of this many random live ones
    dashboard_contexts: int = 4  # highest-activating contexts per feature
    context_before: int = 10  # tokens shown before the activating one
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"layer": 0, "l1s": [0.3, 3.0], "train_tokens": 1_024, "eval_tokens": 256,
                  "window": 32, "n_seeds": 1, "sae": {"steps": 20, "batch_size": 64,
                                                      "resample_every": 10, "dead_window": 5},
                  "dashboard_frequent": 1, "dashboard_random": 1, "dashboard_contexts": 2},
        "gpu": {"train_tokens": 2_000_000, "eval_tokens": 100_000, "window": 256,
                "l1s": [0.1, 0.3, 1.0, 3.0, 10.0], "n_seeds": 5,
                "sae": {"steps": 20_000, "batch_size": 4_096, "resample_every": 2_500,
                        "dead_window": 1_000}}}

    @model_validator(mode="after")
    def _valid(self) -> SAEExperimentConfig:
        from algorithms.interpretability.sae import SAEConfig

        for l1 in self.l1s:
            SAEConfig(expansion=self.expansion, l1=l1, seed=self.seed, **self.sae)
        if not self.l1s or self.n_seeds < 1 or self.window < 2:
            raise ValueError("sparse-autoencoders needs l1s, n_seeds >= 1 and window >= 2")
        if self.train_tokens < self.window or self.eval_tokens < self.window:
            raise ValueError("train_tokens and eval_tokens must hold at least one window")
        return self


def token_rows(tokens: Any, n_tokens: int, window: int) -> Any:
    """The first ``n_tokens`` of ``tokens`` (rounded down to whole windows) as (rows, window)."""
    import torch

    n_rows = n_tokens // window
    if n_rows * window > len(tokens):
        raise ValueError(f"the held-out text has {len(tokens)} tokens, fewer than the "
                         f"{n_rows * window} asked for")
    return torch.as_tensor(tokens[:n_rows * window], dtype=torch.long).reshape(n_rows, window)


@experiment(week=11, name="sparse-autoencoders", covers=(3,), config=SAEExperimentConfig,
            units=UNITS, needs=(BASE_MODEL,))
def sparse_autoencoders(config: SAEExperimentConfig, tracker: Tracker) -> dict[str, float]:
    """SAEs on the base model's residual stream at several L1 coefficients: L0, variance
    explained, dead features, loss recovered with the SAE spliced in; feature dashboards."""
    import numpy as np
    import torch

    from algorithms.harness import mean_ci
    from algorithms.interpretability.hooks import collect_activations, spliced_loss
    from algorithms.interpretability.sae import SAEConfig, sae_metrics, train_sae
    from algorithms.lm.data import corpus_files
    from algorithms.weeks.week08.common import load_model_artifact
    from algorithms.weeks.week11 import figures

    model, _, tokenizer = load_model_artifact(tracker, BASE_MODEL)
    model = model.cpu().float()
    text = corpus_files("tinystories")[1].read_text(encoding="utf-8")
    tokens = np.asarray(tokenizer.encode(text), dtype=np.int64)
    rows = token_rows(tokens, config.train_tokens + config.eval_tokens, config.window)
    n_train = config.train_tokens // config.window
    train_rows, eval_rows = rows[:n_train], rows[n_train:]
    if len(eval_rows) == 0:
        raise ValueError("no evaluation rows: raise eval_tokens")
    site = config.layer
    train_acts = collect_activations(model, site, train_rows)
    eval_acts = collect_activations(model, site, eval_rows)
    mean_act = train_acts.mean(dim=0)
    clean = spliced_loss(model, site, eval_rows)
    ablated = {"zero": spliced_loss(model, site, eval_rows, torch.zeros_like),
               "mean": spliced_loss(model, site, eval_rows,
                                    lambda out: mean_act.expand_as(out).to(out.dtype))}

    seeds = list(range(config.seed, config.seed + config.n_seeds))
    results: dict[float, list[dict[str, float]]] = {}
    kept: dict[float, Any] = {}  # λ → the first seed's SAE and scale
    for l1 in tracker.track(config.l1s, total=len(config.l1s), description="SAEs over λ"):
        results[l1] = []
        for seed in seeds:
            sae_config = SAEConfig(expansion=config.expansion, l1=l1, seed=seed, **config.sae)
            trained = train_sae(train_acts, sae_config, log=lambda row, step, l1=l1, seed=seed:
                                tracker.log({f"sae/l1_{l1:g}/seed{seed}/{k}": v
                                             for k, v in row.items()}, step=step, x="sae_step"))
            sae, scale = trained.sae, trained.scale
            metrics = sae_metrics(sae, eval_acts * scale)

            def splice(out: Any, sae: Any = sae, scale: float = scale) -> Any:
                return (sae(out.float() * scale)[0] / scale).to(out.dtype)

            spliced = spliced_loss(model, site, eval_rows, splice)
            for name, base in ablated.items():
                metrics[f"loss_recovered_{name}"] = (base - spliced) / max(base - clean, 1e-9)
            metrics["loss_increase"] = spliced - clean
            metrics["resampled"] = float(trained.resampled)
            results[l1].append(metrics)
            if seed == seeds[0]:
                kept[l1] = (sae, scale)

    names = ("l0", "explained_variance", "dead_fraction", "loss_recovered_zero",
             "loss_recovered_mean", "loss_increase", "resampled")
    summary: dict[str, float] = {
        "data.train_tokens": float(train_acts.shape[0]), "data.eval_tokens": float(len(eval_acts)),
        "data.layer": float(site), "data.features": float(config.expansion * train_acts.shape[1]),
        "clean_loss": clean, "zero_ablated_loss": ablated["zero"],
        "mean_ablated_loss": ablated["mean"]}
    rows_out = []
    for l1, runs in results.items():
        row: list[Any] = [f"{l1:g}"]
        for name in names:
            values = np.array([[r[name]] for r in runs])
            (mean,), (half,) = mean_ci(values)
            summary[f"l1_{l1:g}.{name}"] = float(mean)
            if name != "resampled":
                summary[f"l1_{l1:g}.{name}_ci95"] = float(np.nan_to_num(half))
            row += [round(float(mean), 4), round(float(np.nan_to_num(half)), 4)]
        rows_out.append(row)
    tracker.log_table("sae/metrics", ["λ"] + [f"{n}{s}" for n in names for s in ("", " ±95%")],
                      rows_out)
    tracker.log_figure(
        "sae/tradeoff", figures.sae_tradeoff(
            {f"{l1:g}": [(r["l0"], r["loss_recovered_mean"], r["explained_variance"])
                         for r in runs] for l1, runs in results.items()}),
        f"SAEs on the residual stream after block {site} ({config.expansion * eval_acts.shape[1]}"
        f" features): loss recovered (against mean ablation) and variance explained against L0"
        f" on {len(eval_acts):,} held-out tokens, one marker per seed ({config.n_seeds}), one "
        f"colour per L1 coefficient λ.")

    middle = config.l1s[len(config.l1s) // 2]
    sae, scale = kept[middle]
    table = dashboards(sae, scale, eval_acts, eval_rows, tokenizer, config)
    tracker.log_table("sae/dashboards", ["feature", "frequency", "activation", "context"], table)
    summary["dashboards.l1"] = float(middle)
    return summary


def dashboards(sae: Any, scale: float, acts: Any, rows: Any, tokenizer: Any,
               config: SAEExperimentConfig) -> list[list[Any]]:
    """Rows (feature, firing frequency, activation, context) for the most frequent live
    features and a seeded sample of the other live ones: each feature's highest activations on
    the evaluation tokens, the activating token in [brackets] after ``context_before`` tokens."""
    import numpy as np
    import torch

    with torch.no_grad():
        f = torch.cat([sae.encode(chunk * scale) for chunk in acts.split(4_096)])
    freq = (f > 0).float().mean(dim=0).numpy()
    live = np.flatnonzero(freq > 0)
    by_freq = live[np.argsort(-freq[live], kind="stable")]
    chosen = list(by_freq[:config.dashboard_frequent])
    rest = by_freq[config.dashboard_frequent:]
    rng = np.random.default_rng(config.seed)
    chosen += list(rng.choice(rest, size=min(config.dashboard_random, len(rest)), replace=False))
    flat = rows.reshape(-1).numpy()
    window = rows.shape[1]
    out = []
    for feature in chosen:
        column = f[:, feature]
        for index in torch.topk(column, min(config.dashboard_contexts, len(column))).indices:
            i = int(index)
            start = max(i - config.context_before, i - i % window)  # stay inside the row
            before = tokenizer.decode([int(t) for t in flat[start:i]])
            token = tokenizer.decode([int(flat[i])])
            context = f"{before}[{token}]".replace("\n", "⏎").replace("|", "¦")
            out.append([int(feature), round(float(freq[feature]), 4),
                        round(float(column[i]), 3), context])
    return out
