"""``overoptimization-scale``: Gao, Schulman & Hilton (2022), "Scaling Laws for Reward Model
Overoptimization", §3 and figs. 1–3, across proxy **model sizes** as well as proxy **data sizes**,
by best-of-n only (cheap: no policy is trained).

The gold reward is VADER (``SentimentTask.score``). A proxy is a linear head
(``fit_linear_head``, Bradley-Terry on feature differences) on the frozen last-layer features
(``backbone_features``) of one model of week 8's ``perplexity-vs-size`` family
(:data:`SIZE_MODELS`) or of the base model, trained on the first s of a random order of week 9's
gold-labelled train pairs (nested subsets, afresh per seed) for each s of ``data_sizes``. Every
model must share the base model's tokenizer: it scores the base model's token rows.

The policy is always the base model: per seed, one pool of ``bon_n_max`` base samples per
held-out prompt; each proxy is standardised on it (mean 0, std 1: Ziegler et al.) and, for
n = 1, 2, 4, …, n_max, the gold and proxy reward of its pick are averaged over all n-subsets of
the pool (``best_of_n_expectation``), at d = √KL, KL = log n − (n − 1)/n (eq. 1's x-axis).
Gold gains over n = 1 (seed means, 95% t-intervals) are fitted by eq. 1,
R_bon(d) = d(α − βd); ``*.gold_peak_d`` is the measured argmax, ``*.fit_best_d`` the fitted
one in [0, d_max], ``*.overoptimized`` when the seed mean ends below its peak. Gao et al. find
the peak moving out (larger d) as the proxy grows in data and in parameters; whether it does
here is what the Spearman rank correlations ``bon.<model>.peak_d_rank_corr_with_data`` (data
sizes against the measured peak d; 0 when the peaks are all equal, as they are when every peak
sits at d_max), ``bon.<model>.fit_best_d_rank_corr_with_data`` (against the fitted one) and
their ``bon.*_rank_corr_with_params`` (parameters, at the largest data size) report.
Limits: VADER is a lexicon bounded by 1; a frozen-tower head only re-weights a model's features.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL, SIZE_MODELS
from algorithms.weeks.week09.common import PAIRS_ARTIFACT
from algorithms.weeks.week12.overoptimization import UNITS as _UNITS
from algorithms.weeks.week12.overoptimization import OveroptimizationConfig

UNITS = {"*rank_corr*": "", **_UNITS, "*params": "parameters"}
BASE = "base"
"""The name of the base model among the proxies' backbones."""


class OveroptimizationScaleConfig(ExperimentConfig):
    """Proxies: a head of ``head_steps`` full-batch Adam steps (``head_lr``,
    ``head_weight_decay``) on each backbone of ``models`` (size keys of ``SIZE_MODELS``, such
    as ``d64_l3``, and ``base``; empty: all of them) and each of ``data_sizes`` pairs, on
    features pooled by ``pooling``; best-of-n to ``bon_n_max`` from a pool of continuations
    of ``max_new_tokens``."""

    data_sizes: list[int] = [64, 256, 1024, 4096]
    models: list[str] = []
    pooling: str = "sum"
    head_steps: int = 300
    head_lr: float = 0.05
    head_weight_decay: float = 1e-3
    bon_n_max: int = 256
    max_new_tokens: int = 24
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"data_sizes": [8, 32], "head_steps": 20, "bon_n_max": 4,
                  "max_new_tokens": 4, "n_seeds": 1},
        "gpu": {"data_sizes": [256, 1024, 4096, 16384, 32768], "head_steps": 500,
                "bon_n_max": 1024, "n_seeds": 5}}

    @model_validator(mode="after")
    def _valid(self) -> OveroptimizationScaleConfig:
        if not self.data_sizes or min(self.data_sizes) < 1 or \
                len(set(self.data_sizes)) != len(self.data_sizes):
            raise ValueError(f"data_sizes must be distinct pair counts >= 1, got {self.data_sizes}")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models must be distinct, got {self.models}")
        if self.pooling not in ("last", "sum"):
            raise ValueError(f"pooling must be last or sum, got {self.pooling!r}")
        if self.bon_n_max < 4:  # n = 1, 2, 4: the fewest points that fix α and β and test them
            raise ValueError(f"best-of-n needs bon_n_max >= 4, got {self.bon_n_max}")
        if min(self.head_steps, self.max_new_tokens, self.n_seeds) < 1 or not self.head_lr > 0 \
                or self.head_weight_decay < 0:
            raise ValueError("head_steps, max_new_tokens and n_seeds must be >= 1, head_lr > 0 "
                             "and head_weight_decay >= 0")
        return self

    bon_ns = OveroptimizationConfig.bon_ns  # 1, 2, 4, … up to bon_n_max


def load_backbones(tracker: Tracker, task: Any, wanted: list[str]) -> dict[str, Any]:
    """name → model, smallest first: the ``SIZE_MODELS`` family and the base model (``wanted``
    of them; all when empty). InputError when a name is unknown or a tokenizer is not the
    base model's (a proxy scores the base model's token rows)."""
    from algorithms.lm.data import tokenizer_fingerprint
    from algorithms.weeks.week08.common import load_model_folder

    folder = tracker.use_artifact(SIZE_MODELS)
    family = {p.name: p / "checkpoint" for p in sorted(folder.iterdir())
              if (p / "checkpoint").is_dir()}
    if not family:
        raise InputError(f"{SIZE_MODELS} holds no models")
    names = list(wanted) or [*family, BASE]
    unknown = sorted(set(names) - {*family, BASE})
    if unknown:
        raise InputError(f"unknown model {', '.join(unknown)} (known: "
                         f"{', '.join([*family, BASE])})")
    expected = tokenizer_fingerprint(task.tokenizer)
    models: dict[str, Any] = {}
    for name in names:
        if name == BASE:
            models[name] = task.base
            continue
        model, _, tokenizer = load_model_folder(family[name])
        if tokenizer_fingerprint(tokenizer) != expected:
            raise InputError(f"the tokenizer of {SIZE_MODELS}/{name} is not the base model's")
        models[name] = model.eval()
    return dict(sorted(models.items(), key=lambda item: item[1].n_params(embeddings=False)))


class _Features:
    """One backbone's frozen features of token rows, each train pair's read once over seeds."""

    def __init__(self, model: Any, pooling: str, chosen: list, rejected: list):
        self.model, self.pooling, self.chosen, self.rejected = model, pooling, chosen, rejected
        self.cache: dict[int, tuple[Any, Any]] = {}

    def of(self, rows: list) -> Any:
        from algorithms.preference.reward_training import backbone_features

        return backbone_features(self.model, [tuple(int(t) for t in r) for r in rows],
                                 pooling=self.pooling)

    def pairs(self, idx: Any) -> tuple[Any, Any]:
        import numpy as np

        missing = [int(i) for i in dict.fromkeys(idx) if int(i) not in self.cache]
        if missing:
            c, r = (self.of([side[i] for i in missing]) for side in (self.chosen, self.rejected))
            self.cache.update(zip(missing, zip(c, r)))
        return (np.stack([self.cache[int(i)][0] for i in idx]),
                np.stack([self.cache[int(i)][1] for i in idx]))


@experiment(week=12, name="overoptimization-scale", covers=(2,),
            config=OveroptimizationScaleConfig, units=UNITS,
            needs=(BASE_MODEL, SIZE_MODELS, PAIRS_ARTIFACT))
def overoptimization_scale(config: OveroptimizationScaleConfig, tracker: Tracker
                           ) -> dict[str, float]:
    """Best-of-n of the base model against proxies of every model size × data size: gold
    against √KL, Gao et al.'s eq. 1 fits and where the gold peak falls."""
    from algorithms.preference.pairs import chosen_rejected, gold_labels
    from algorithms.weeks.week09.common import SentimentTask

    task = SentimentTask(tracker)
    train = [p for p in task.pairs if p.split == "train" and "gold" in p.labels]
    if max(config.data_sizes) > len(train):
        raise InputError(f"a proxy of {max(config.data_sizes)} pairs needs more than the "
                         f"{len(train)} gold-labelled train pairs the preference data has")
    test = [p for p in task.pairs if p.split == "test"]
    chosen, rejected = chosen_rejected(train, "gold")
    backbones = load_backbones(tracker, task, config.models)
    banks = {name: _Features(m, config.pooling, chosen, rejected)
             for name, m in backbones.items()}
    test_feats = {name: (bank.of([p.prompt + p.a for p in test]),
                         bank.of([p.prompt + p.b for p in test])) for name, bank in banks.items()}
    labels = gold_labels(test).astype(bool)
    runs = [_one_seed(config, task, banks, test_feats, labels, seed, len(train))
            for seed in tracker.track(range(config.seed, config.seed + config.n_seeds),
                                      config.n_seeds, "seeds")]
    params = {name: float(m.n_params(embeddings=False)) for name, m in backbones.items()}
    return _report(config, tracker, params, runs)


def _one_seed(config: OveroptimizationScaleConfig, task: Any, banks: dict[str, _Features],
              test_feats: dict[str, tuple], labels: Any, seed: int, n_train: int
              ) -> dict[str, Any]:
    """One seed: one pool of base samples; per backbone and data size a head, its held-out
    accuracy and best-of-n's gold and proxy reward at each n."""
    import numpy as np

    from algorithms.preference.reward_training import fit_linear_head
    from algorithms.safety.overoptimization import best_of_n_expectation
    from algorithms.weeks.week12.overoptimization import _judge

    sizes, ns = sorted(config.data_sizes), config.bon_ns()
    order = np.random.default_rng(seed).permutation(n_train)  # proxy of s pairs: the first s
    gold, _, rows = _judge(task, task.base, config.bon_n_max, config.max_new_tokens, seed,
                           with_kl=False)
    run: dict[str, Any] = {"base_gold": float(gold.mean())}
    for name, bank in banks.items():
        pool = bank.of(rows)
        chosen, rejected = bank.pairs(order[:sizes[-1]])
        test_a, test_b = test_feats[name]
        run[name] = {}
        for s in sizes:
            w = fit_linear_head(chosen[:s], rejected[:s], config.head_steps, config.head_lr,
                                config.head_weight_decay, seed)
            raw = pool @ w  # standardised on the base model's samples (Ziegler et al.)
            z = ((raw - raw.mean()) / max(float(raw.std()), 1e-8)).reshape(gold.shape)
            run[name][s] = {"accuracy": float(np.mean((test_a @ w > test_b @ w) == labels)),
                            "bon_gold": [best_of_n_expectation(z, gold, n) for n in ns],
                            "bon_proxy": [best_of_n_expectation(z, z, n) for n in ns]}
    return run


def _report(config: OveroptimizationScaleConfig, tracker: Tracker, params: dict[str, float],
            runs: list[dict[str, Any]]) -> dict[str, float]:
    """Means over seeds with 95% intervals, eq. 1's fits, the summary, tables and figure."""
    import numpy as np

    from algorithms.harness import mean_ci, spearman
    from algorithms.preference.best_of_n import best_of_n_kl
    from algorithms.safety.overoptimization import distance, fit_bon
    from algorithms.weeks.week12.scale_figures import scale_figure

    sizes, ns = sorted(config.data_sizes), config.bon_ns()
    d = distance([best_of_n_kl(n) for n in ns])
    summary = {"n_seeds": float(config.n_seeds), "bon.n_max": float(ns[-1]),
               "bon.max_d": float(d[-1]),
               "base.gold_reward": float(np.mean([r["base_gold"] for r in runs]))}
    panels: dict[str, dict[str, tuple]] = {}
    fit_rows, curve_rows = [], []
    r3 = lambda x: round(float(x), 3)  # noqa: E731
    for name, n_params in params.items():
        summary[f"models.{name}.params"] = n_params
        panels[name] = {}
        for s in sizes:
            key, per = f"bon.{name}.proxy_n{s}", [r[name][s] for r in runs]
            gold = np.array([p["bon_gold"] for p in per])  # (seeds, n), n = 1 first
            g_mean, g_half = mean_ci(gold - gold[:, :1])
            p_mean, p_half = mean_ci(np.array([p["bon_proxy"] for p in per]))
            (acc,), (acc_half,) = mean_ci(np.array([[p["accuracy"]] for p in per]))
            top = int(np.argmax(g_mean))
            summary.update({
                f"{key}.test_accuracy": float(acc), f"{key}.test_accuracy_ci95": float(acc_half),
                f"{key}.gold_peak_d": float(d[top]), f"{key}.gold_peak_gain": float(g_mean[top]),
                f"{key}.final_gold_gain": float(g_mean[-1]),
                f"{key}.final_gold_gain_ci95": float(g_half[-1]),
                f"{key}.final_proxy_reward": float(p_mean[-1]),
                f"{key}.overoptimized": float(g_mean[-1] < g_mean[top]),
                f"{key}.overoptimized_seeds": float(np.mean(gold[:, -1] < gold.max(1)))})
            fit = fit_bon(d, g_mean)  # n = 1, 2, 4 at least: three distinct d, two > 0
            summary.update({f"{key}.fit_alpha": fit.alpha, f"{key}.fit_beta": fit.beta,
                            f"{key}.fit_r2": fit.r2, f"{key}.fit_has_peak": float(fit.has_peak),
                            # argmax of the fitted gold over the measured d in [0, d_max]
                            f"{key}.fit_best_d": min(fit.peak_d, fit.d_max)})
            fit_rows.append([name, int(n_params), s, r3(acc), r3(fit.alpha), r3(fit.beta),
                             r3(fit.r2), r3(fit.peak_d) if fit.has_peak else "none",
                             r3(d[top]), r3(g_mean[top]), r3(g_mean[-1]), r3(g_half[-1]),
                             "yes" if g_mean[-1] < g_mean[top] else "no"])
            for j, n in enumerate(ns):
                curve_rows.append([name, s, n, r3(d[j]), r3(g_mean[j]), r3(g_half[j]),
                                   r3(p_mean[j]), r3(p_half[j])])
                tracker.log({f"bon/{name}/proxy_n{s}/gold_gain": float(g_mean[j]),
                             f"bon/{name}/proxy_n{s}/proxy_reward": float(p_mean[j])},
                            step=n, x="n")
            panels[name][f"{s} pairs"] = (d, g_mean, g_half, fit)
        for peak in ("gold_peak_d", "fit_best_d"):
            summary[f"bon.{name}.{peak.removeprefix('gold_')}_rank_corr_with_data"] = spearman(
                sizes, [summary[f"bon.{name}.proxy_n{s}.{peak}"] for s in sizes])
    # the other axis of Gao et al.'s fig. 3: the peak against parameters at the largest data
    for peak in ("gold_peak_d", "fit_best_d"):
        summary[f"bon.{peak.removeprefix('gold_')}_rank_corr_with_params"] = spearman(
            list(params.values()),
            [summary[f"bon.{name}.proxy_n{sizes[-1]}.{peak}"] for name in params])

    tracker.log_table("overopt_scale/fits", [
        "model", "non-embedding params", "train pairs", "test accuracy", "α", "β", "R²",
        "fitted d*", "measured peak d", "peak gold gain", "final gold gain", "± 95% CI",
        "gold turns over"], fit_rows)
    tracker.log_table("overopt_scale/curves", [
        "model", "train pairs", "n", "d = √KL", "gold gain", "± 95% CI", "proxy reward (std)",
        "± 95% CI"], curve_rows)
    tracker.log_figure("overopt_scale/bon", scale_figure(panels, params), (
        f"Best-of-n (n ≤ {ns[-1]}) of the base model against proxies (linear heads on each "
        "model's frozen features) of each data size, one panel per proxy model: held-out gold "
        "gain over n = 1 against d = √KL, mean ± 95% interval over "
        f"{config.n_seeds} seeds; dashed: Gao et al.'s fitted d(α − βd)"))
    return summary
