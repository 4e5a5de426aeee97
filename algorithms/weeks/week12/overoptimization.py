"""``overoptimization``: Gao, Schulman & Hilton (2022), "Scaling Laws for Reward Model
Overoptimization", in miniature, on week 9's controlled-sentiment task.

The gold reward is VADER (``SentimentTask.score``). **Proxy** reward models are trained on
gold-labelled train pairs at each size of ``data_sizes`` (nested random subsets, afresh per
seed) with week 9's code: ``tower="shared"``, a linear head on the frozen base model's features
(``fit_linear_head``: a ``RewardModel`` head on the base backbone); ``"separate"``, the base
model fine-tuned with its head (``train_reward_model``), as Gao et al. train theirs. Proxies
are standardised on base-model samples (mean 0, std 1; Ziegler et al.): β means one thing.

* **best-of-n**: ``bon_n_max`` base-model samples per held-out prompt, drawn once; for n = 1,
  2, 4, …, n_max the gold and proxy reward of the proxy's pick, averaged over all n-subsets of
  the pool (``best_of_n_expectation``), at KL = log n − (n − 1)/n;
* **PPO** against each proxy (``train_ppo_text``, fixed β ``ppo_beta``; on the
  ``beta_sweep_size`` proxy at each β of ``beta_sweep`` too, the **KL penalty**), judged on
  the held-out prompts every ``eval_every`` iterations; iteration 0 is the base model;
* **ensembles** (Coste et al. 2024): ``ensemble_members`` proxies of ``ensemble_size`` pairs
  (bootstrap resamples), best-of-n by their mean, worst case and mean − λ Var.

Gold gains over the base model (means over ``n_seeds`` seeds) are fitted by Gao et al.'s
eqs. 1 and 2, R_bon(d) = d(α − βd) and R_RL(d) = d(α − β log d), d = √KL
(``algorithms.safety.overoptimization``), with R² and the peak d*. Whether gold turns over is
what a run finds, not an assumption: ``*.overoptimized`` when the seed mean ends below its peak,
``*.overoptimized_seeds`` the share of seeds whose gold does (sampling noise included).
Limits: VADER is a lexicon bounded by 1; a frozen-tower proxy re-weights the base's features.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL
from algorithms.weeks.week09.common import PAIRS_ARTIFACT

UNITS = {"*kl_falls_with_beta": "", "*accuracy": "", "*gold_reward*": "VADER compound",
         "*gold*gain": "VADER compound", "*proxy_reward*": "proxy std", "*_kl*": "nats",
         "*_d": "√nats"}

AGGREGATES = (("single", "one proxy (member 0)"), ("mean", "ensemble mean"),
              ("worst_case", "worst case (min)"),
              ("uncertainty_weighted", "uncertainty-weighted (mean − λ Var)"))


class OveroptimizationConfig(ExperimentConfig):
    """Proxies of ``data_sizes`` pairs by ``tower`` (``shared``: ``head_steps`` full-batch
    steps; ``separate``: ``rm_epochs`` passes of ``rm_batch_size``, ≥ ``rm_min_steps`` steps);
    best-of-n to ``bon_n_max``; PPO (``ppo``: ``PPOTextConfig`` fields) at β ``ppo_beta``,
    judged by ``n_eval_samples`` per test prompt; λ of UWO ``uwo_penalty``."""

    data_sizes: list[int] = [16, 64, 256, 1024]
    tower: str = "shared"
    pooling: str = "sum"
    head_steps: int = 300
    head_lr: float = 0.05
    head_weight_decay: float = 1e-3
    rm_epochs: float = 1.0
    rm_min_steps: int = 50
    rm_batch_size: int = 32
    rm_lr: float = 3e-4
    bon_n_max: int = 64
    ppo: dict[str, Any] = {"iterations": 50, "batch_prompts": 16, "max_new_tokens": 24,
                           "epochs": 4, "minibatch": 8, "lr": 1e-4}
    ppo_beta: float = 0.01
    eval_every: int = 10
    n_eval_samples: int = 4
    beta_sweep: list[float] = [0.1]
    beta_sweep_size: int = 64
    ensemble_members: int = 4
    ensemble_size: int = 64
    uwo_penalty: float = 1.0
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"data_sizes": [8, 32], "tower": "separate", "rm_min_steps": 2,
                  "rm_batch_size": 4, "bon_n_max": 4,
                  "ppo": {"iterations": 2, "batch_prompts": 4, "max_new_tokens": 4,
                          "epochs": 1, "minibatch": 2},
                  "eval_every": 1, "n_eval_samples": 1, "beta_sweep_size": 8,
                  "ensemble_members": 2, "ensemble_size": 8, "n_seeds": 1},
        "gpu": {"data_sizes": [128, 512, 2048, 8192, 32768], "tower": "separate",
                "rm_epochs": 1.0, "rm_min_steps": 200, "rm_batch_size": 64, "rm_lr": 1e-4,
                "bon_n_max": 512,
                "ppo": {"iterations": 200, "batch_prompts": 128, "max_new_tokens": 24,
                        "minibatch": 32, "lr": 2e-5},
                "eval_every": 20, "n_eval_samples": 8, "beta_sweep": [0.005, 0.1, 0.5],
                "beta_sweep_size": 2048, "ensemble_members": 8, "ensemble_size": 512,
                "n_seeds": 5}}

    @model_validator(mode="after")
    def _valid(self) -> OveroptimizationConfig:
        from algorithms.preference.ppo_text import PPOTextConfig

        if not self.data_sizes or min(self.data_sizes) < 1 or \
                len(set(self.data_sizes)) != len(self.data_sizes):
            raise ValueError(f"data_sizes must be distinct pair counts >= 1, got {self.data_sizes}")
        if self.tower not in ("shared", "separate") or self.pooling not in ("last", "sum"):
            raise ValueError(f"tower must be shared or separate and pooling last or sum, got "
                             f"{self.tower!r} and {self.pooling!r}")
        if self.bon_n_max < 4:  # n = 1, 2, 4: the fewest points that fix α and β and test them
            raise ValueError(f"best-of-n needs bon_n_max >= 4, got {self.bon_n_max}")
        for beta in (self.ppo_beta, *self.beta_sweep):
            if not beta > 0:
                raise ValueError(f"the KL coefficient β must be > 0, got {beta!r}")
            PPOTextConfig(**{**self.ppo, "init_kl_coef": beta, "adaptive": False})
        if self.beta_sweep_size not in self.data_sizes:
            raise ValueError(f"beta_sweep_size {self.beta_sweep_size} is not one of the "
                             f"data_sizes {self.data_sizes}")
        if self.ensemble_members < 2 or self.ensemble_size < 1:
            raise ValueError("an ensemble needs ensemble_members >= 2 and ensemble_size >= 1")
        if min(self.head_steps, self.rm_min_steps, self.rm_batch_size, self.eval_every,
               self.n_eval_samples, self.n_seeds) < 1 or not min(
                   self.rm_epochs, self.rm_lr, self.head_lr) > 0 or self.uwo_penalty < 0:
            raise ValueError("steps, batch sizes, eval_every, n_eval_samples and n_seeds must "
                             "be >= 1, epochs and learning rates > 0, uwo_penalty >= 0")
        return self

    def bon_ns(self) -> list[int]:
        """1, 2, 4, … up to ``bon_n_max`` (and it, if not a power of two)."""
        ns = [1 << k for k in range(self.bon_n_max.bit_length()) if 1 << k <= self.bon_n_max]
        return ns if ns[-1] == self.bon_n_max else [*ns, self.bon_n_max]


class _Proxies:
    """Trains proxy reward models with week 9's code and scores token rows by them; a proxy is
    ``(model, mean, std)``, its reward standardised by the base model's samples."""

    def __init__(self, config: OveroptimizationConfig, task: Any, chosen: list, rejected: list):
        self.config, self.task, self.chosen, self.rejected = config, task, chosen, rejected
        self.features: dict[tuple[int, ...], Any] = {}

    def _feats(self, rows: list) -> Any:
        import numpy as np

        missing = [r for r in dict.fromkeys(rows) if r not in self.features]
        if missing:  # the nested subsets share their pairs: each is read once
            self.features.update(zip(missing, self.raw(None, missing)))
        return np.stack([self.features[r] for r in rows])

    def train(self, idx: Any, seed: int) -> Any:
        """A head ``(d,)`` on the frozen base model (shared tower), or a fine-tuned copy of it
        with its head (separate tower), on the pairs ``idx``."""
        import copy

        import torch

        from algorithms.preference.reward_model import RewardModel
        from algorithms.preference.reward_training import fit_linear_head, train_reward_model

        c, r = [self.chosen[i] for i in idx], [self.rejected[i] for i in idx]
        cfg = self.config
        if cfg.tower == "shared":
            return fit_linear_head(self._feats(c), self._feats(r), cfg.head_steps, cfg.head_lr,
                                   cfg.head_weight_decay, seed)
        torch.manual_seed(seed)
        model = RewardModel(copy.deepcopy(self.task.base), pooling=cfg.pooling)
        steps = max(cfg.rm_min_steps, int(-(-cfg.rm_epochs * len(idx) // cfg.rm_batch_size)))
        train_reward_model(model, c, r, steps, cfg.rm_batch_size, cfg.rm_lr, seed)
        return model

    def raw(self, models: list[Any] | None, rows: list) -> Any:
        """``(k, n)`` rewards of ``rows`` (prompt + completion), the base model's features
        computed once for every head (``models=None``: the features themselves); a head on
        them is ``RewardModel`` with that head on the base backbone (bias 0: it cancels)."""
        import numpy as np

        from algorithms.preference.reward_training import backbone_features, rewards_of

        rows = [tuple(int(t) for t in r) for r in rows]
        shared = (backbone_features(self.task.base, rows, pooling=self.config.pooling)
                  if models is None or any(isinstance(m, np.ndarray) for m in models) else None)
        return shared if models is None else np.stack(
            [shared @ m if isinstance(m, np.ndarray) else rewards_of(m, rows) for m in models])

    def score(self, proxies: list[tuple[Any, float, float]], rows: list) -> Any:
        """``(k, n)`` standardised rewards of ``proxies`` = [(model, mean, std)]."""
        return (self.raw([p[0] for p in proxies], rows) - [[p[1]] for p in proxies]) / [
            [p[2]] for p in proxies]


@experiment(week=12, name="overoptimization", covers=(2,), config=OveroptimizationConfig,
            units=UNITS, needs=(BASE_MODEL, PAIRS_ARTIFACT))
def overoptimization(config: OveroptimizationConfig, tracker: Tracker) -> dict[str, float]:
    """Proxy reward models at several data sizes, best-of-n and PPO against each: gold against
    √KL, Gao et al.'s fits, the KL penalty, and ensembles of proxies."""
    from algorithms.preference.pairs import chosen_rejected, gold_labels
    from algorithms.preference.ppo_text import PPOTextConfig
    from algorithms.weeks.week09.common import SentimentTask

    task = SentimentTask(tracker)
    train = [p for p in task.pairs if p.split == "train" and "gold" in p.labels]
    needed = max(*config.data_sizes, config.ensemble_size)
    if needed > len(train):
        raise InputError(f"a proxy of {needed} pairs needs more than the {len(train)} "
                         "gold-labelled train pairs the preference data has")
    test = [p for p in task.pairs if p.split == "test"]
    bank = _Proxies(config, task, *chosen_rejected(train, "gold"))
    test_rows = ([p.prompt + p.a for p in test], [p.prompt + p.b for p in test],
                 gold_labels(test).astype(bool))
    max_new = PPOTextConfig(**config.ppo).max_new_tokens
    runs = [_one_seed(config, tracker, task, bank, seed, len(train), test_rows, max_new)
            for seed in range(config.seed, config.seed + config.n_seeds)]
    return _report(config, tracker, runs)


def _one_seed(config: OveroptimizationConfig, tracker: Tracker, task: Any, bank: _Proxies,
              seed: int, n_train: int, test_rows: tuple, max_new: int) -> dict[str, Any]:
    """One seed: its proxies and ensemble members, best-of-n from one pool, and PPO."""
    import numpy as np
    import torch

    from algorithms.preference.reward_model import ensemble_reward
    from algorithms.safety.overoptimization import best_of_n_expectation

    sizes, ns = sorted(config.data_sizes), config.bon_ns()
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_train)  # nested subsets: the proxy of s pairs sees the first s
    models = {s: bank.train(order[:s], seed) for s in sizes}
    ens_idx = order[:config.ensemble_size]  # member 0 on it, the others on bootstraps of it
    members = [models[config.ensemble_size] if config.ensemble_size in models
               else bank.train(ens_idx, seed)]
    members += [bank.train(rng.choice(ens_idx, size=len(ens_idx)), seed + 100 * m)
                for m in range(1, config.ensemble_members)]
    bank.features.clear()  # the next seed draws other subsets

    # the best-of-n pool: n_max base-model samples per test prompt, drawn once per seed; every
    # proxy is standardised on it (the base model's reward distribution)
    gold, _, rows = _judge(task, task.base, config.bon_n_max, max_new, seed, with_kl=False)
    shape = gold.shape
    everyone = [models[s] for s in sizes] + members
    raw = bank.raw(everyone, rows)
    proxies = [(m, float(r.mean()), max(float(r.std()), 1e-8)) for m, r in zip(everyone, raw)]
    z = np.stack([(r - p[1]) / p[2] for r, p in zip(raw, proxies)]).reshape(-1, *shape)
    run: dict[str, Any] = {"sizes": {}, "ensemble": {}, "beta": {}, "base_gold": gold.mean()}
    r_a, r_b = (bank.raw([models[s] for s in sizes], side) for side in test_rows[:2])
    for i, s in enumerate(sizes):
        run["sizes"][s] = {"accuracy": float(np.mean((r_a[i] > r_b[i]) == test_rows[2])),
                           "bon_gold": [best_of_n_expectation(z[i], gold, n) for n in ns],
                           "bon_proxy": [best_of_n_expectation(z[i], z[i], n) for n in ns]}

    member_z = torch.as_tensor(z[len(sizes):].reshape(len(members), -1))
    for key, _ in AGGREGATES:
        agg = (member_z[0] if key == "single"
               else ensemble_reward(member_z, key, config.uwo_penalty)).numpy().reshape(shape)
        run["ensemble"][key] = [best_of_n_expectation(agg, gold, n) for n in ns]

    # PPO against each proxy at ppo_beta, and at every β of beta_sweep on one proxy; the base
    # model's held-out samples are every run's iteration 0
    base_gold, base_kl, base_rows = _judge(task, task.base, config.n_eval_samples, max_new,
                                           seed + 10_000)
    for i, s in enumerate(sizes):
        start = {"iteration": 0, "gold": float(base_gold.mean()), "kl": float(base_kl.mean()),
                 "proxy": float(bank.score([proxies[i]], base_rows)[0].mean())}
        for beta in dict.fromkeys([config.ppo_beta] + (
                config.beta_sweep if s == config.beta_sweep_size else [])):
            points = _ppo(config, tracker, task, bank, proxies[i], beta, seed, start, max_new,
                          f"ppo/proxy_n{s}/beta{beta:g}/seed{seed}")
            run["sizes"][s].setdefault("ppo", points)  # the first run is at ppo_beta
            if s == config.beta_sweep_size:
                run["beta"][beta] = points
    return run


def _judge(task: Any, policy: Any, n: int, max_new: int, seed: int, with_kl: bool = True
           ) -> tuple[Any, Any, list]:
    """``SentimentTask.judge`` batched 32 prompts at a time (judging PPO every few iterations
    stays cheap): gold and log π/π_ref ``(P, n)`` (None without ``with_kl``), the token rows."""
    from algorithms.lm.generate import sample_continuations
    from algorithms.preference.offline import log_ratios

    groups = sample_continuations(policy, task.test, n, max_new, 1.0, task.eot, seed)
    prompts = [p for p in task.test for _ in range(n)]
    completions = [c for g in groups for c in g]
    gold = task.score(prompts, completions).reshape(len(task.test), n)
    kl = log_ratios(policy, task.base, prompts, completions) if with_kl else None
    if kl is not None:
        kl = kl.reshape(gold.shape)
    return gold, kl, [list(p) + list(c) for p, c in zip(prompts, completions)]


def _ppo(config: OveroptimizationConfig, tracker: Tracker, task: Any, bank: _Proxies,
         proxy: tuple, beta: float, seed: int, start: dict[str, float], max_new: int,
         prefix: str) -> list[dict[str, float]]:
    """PPO against ``proxy`` at fixed ``beta``, judged every ``eval_every`` iterations from the
    trainer's log hook (one uninterrupted run); the batches' gold is read in the score."""
    import copy

    import torch

    from algorithms.preference.ppo_text import PolicyWithValue, PPOTextConfig, train_ppo_text

    ppo = PPOTextConfig(**{**config.ppo, "init_kl_coef": beta, "adaptive": False, "seed": seed})
    torch.manual_seed(seed)
    model = PolicyWithValue(copy.deepcopy(task.base))
    points, batch_gold = [dict(start)], []
    tracker.log({f"{prefix}/gold_reward": start["gold"], f"{prefix}/kl": start["kl"],
                 f"{prefix}/proxy_reward": start["proxy"]}, step=0, x="iteration")

    def score(prompts: list, completions: list) -> Any:
        batch_gold.append(float(task.score(prompts, completions).mean()))
        return bank.score([proxy], [list(p) + list(c) for p, c in zip(prompts, completions)])[0]

    def on_log(row: dict[str, float]) -> None:
        done = int(row["iteration"]) + 1
        tracker.log({f"{prefix}/train_proxy_reward": row["score"], f"{prefix}/train_kl": row["kl"],
                     f"{prefix}/train_gold_reward": batch_gold[-1]}, step=done, x="iteration")
        if done % config.eval_every and done != ppo.iterations:
            return
        gold, kl, rows = _judge(task, model.lm, config.n_eval_samples, max_new, seed + 10_000)
        point = {"iteration": done, "gold": float(gold.mean()), "kl": float(kl.mean()),
                 "proxy": float(bank.score([proxy], rows)[0].mean())}
        points.append(point)
        tracker.log({f"{prefix}/gold_reward": point["gold"], f"{prefix}/kl": point["kl"],
                     f"{prefix}/proxy_reward": point["proxy"]}, step=done, x="iteration")

    train_ppo_text(model, task.base, task.train, score, ppo, task.eot, on_log)
    return points


def _report(config: OveroptimizationConfig, tracker: Tracker,
            runs: list[dict[str, Any]]) -> dict[str, float]:
    """Means over seeds with 95% intervals, the fits, the summary, tables and figures."""
    import numpy as np

    from algorithms.harness import mean_ci
    from algorithms.preference.best_of_n import best_of_n_kl
    from algorithms.safety.overoptimization import distance, fit_bon, fit_rl
    from algorithms.weeks.week12.overoptimization_figures import gold_figure

    sizes, ns = sorted(config.data_sizes), config.bon_ns()
    d_bon = distance([best_of_n_kl(n) for n in ns])
    summary = {"n_seeds": float(config.n_seeds), "bon.n_max": float(ns[-1]),
               "bon.max_d": float(d_bon[-1])}
    figures, fit_rows, curve_rows = {k: {} for k in ("bon", "ppo", "beta", "ensemble")}, [], []
    r3 = lambda x: round(float(x), 3)  # noqa: E731

    def curve(key: str, figure: str, label: str, steps: list[int], d: Any, gold: Any,
              proxy: Any, fit_fn: Any) -> None:
        """``gold``, ``proxy``: (seeds, points), point 0 the base model's; gains over it."""
        g_mean, g_half = mean_ci(gold - gold[:, :1])
        p_mean, p_half = mean_ci(proxy) if proxy is not None else (None, None)
        top = int(np.argmax(g_mean))
        summary.update({f"{key}.gold_peak_d": float(d[top]), f"{key}.gold_peak_gain":
                        float(g_mean[top]), f"{key}.final_gold_gain": float(g_mean[-1]),
                        f"{key}.final_gold_gain_ci95": float(g_half[-1]),
                        f"{key}.overoptimized": float(g_mean[-1] < g_mean[top]),
                        f"{key}.overoptimized_seeds": float(np.mean(gold[:, -1] < gold.max(1)))})
        try:  # two points with distinct d > 0 are needed; a PPO run that never moved has none
            fit = fit_fn(d, g_mean)
        except ValueError:
            fit = None
        if fit is not None:
            summary.update({f"{key}.fit_alpha": fit.alpha, f"{key}.fit_beta": fit.beta,
                            f"{key}.fit_r2": fit.r2, f"{key}.fit_has_peak": float(fit.has_peak),
                            # argmax of the fitted gold over the measured d in [0, d_max]
                            f"{key}.fit_best_d": min(fit.peak_d, fit.d_max)})
        shown = ([r3(fit.alpha), r3(fit.beta), r3(fit.r2),
                  r3(fit.peak_d) if fit.has_peak else "none"] if fit else ["—"] * 4)
        fit_rows.append([figure, label, *shown, r3(d[top]), r3(g_mean[top]), r3(g_mean[-1])])
        for j, step in enumerate(steps):
            curve_rows.append([figure, label, step, r3(d[j] ** 2), r3(d[j]), r3(g_mean[j]),
                               r3(g_half[j]), *((r3(p_mean[j]), r3(p_half[j]))
                                                if proxy is not None else ["—", "—"])])
        figures[figure][label] = (np.asarray(d), g_mean, g_half, p_mean, p_half, fit)

    def ppo_curve(key: str, figure: str, label: str, points: list[list[dict]]) -> None:
        arr = {k: np.array([[p[k] for p in r] for r in points]) for k in ("gold", "proxy", "kl")}
        curve(key, figure, label, [int(p["iteration"]) for p in points[0]],
              distance(arr["kl"].mean(0)), arr["gold"], arr["proxy"], fit_rl)
        for name, k in (("final_gold_reward", "gold"), ("final_proxy_reward", "proxy"),
                        ("final_kl", "kl")):
            (mean,), (half,) = mean_ci(arr[k][:, -1:])
            summary[f"{key}.{name}"], summary[f"{key}.{name}_ci95"] = float(mean), float(half)

    summary["base.gold_reward"] = float(np.mean([r["base_gold"] for r in runs]))
    for s in sizes:
        per = [r["sizes"][s] for r in runs]
        summary[f"proxy_n{s}.test_accuracy"] = float(np.mean([p["accuracy"] for p in per]))
        label = f"proxy on {s} pairs"
        curve(f"bon.proxy_n{s}", "bon", label, ns, d_bon, np.array([p["bon_gold"] for p in per]),
              np.array([p["bon_proxy"] for p in per]), fit_bon)
        ppo_curve(f"ppo.proxy_n{s}", "ppo", label, [p["ppo"] for p in per])
        for n, g in zip(ns, np.mean([p["bon_gold"] for p in per], axis=0)):
            tracker.log({f"bon/proxy_n{s}/gold_reward": float(g)}, step=n, x="n")
    betas = sorted({config.ppo_beta, *config.beta_sweep})
    for beta in betas:
        ppo_curve(f"ppo_beta.beta{beta:g}", "beta", f"β = {beta:g}",
                  [r["beta"][beta] for r in runs])
    kls = [summary[f"ppo_beta.beta{b:g}.final_kl"] for b in betas]
    summary["ppo_beta.kl_falls_with_beta"] = float(all(a >= b for a, b in zip(kls, kls[1:])))
    for key, label in AGGREGATES:
        curve(f"ensemble.{key}", "ensemble", label, ns, d_bon,
              np.array([r["ensemble"][key] for r in runs]), None, fit_bon)

    tracker.log_table("overopt/proxies", ["proxy", "train pairs", "test accuracy (gold order)"],
                      [[f"proxy on {s} pairs", s, r3(summary[f"proxy_n{s}.test_accuracy"])]
                       for s in sizes])
    tracker.log_table("overopt/fits", ["study", "proxy / setting", "α", "β", "R²", "fitted d*",
                                       "measured peak d", "peak gold gain", "final gold gain"],
                      fit_rows)
    tracker.log_table("overopt/curves", ["study", "proxy / setting", "n or PPO iteration",
                                         "KL (nats)", "d = √KL", "gold gain", "± 95% CI",
                                         "proxy reward (std)", "± 95% CI"], curve_rows)
    for key, what in (("bon", f"best-of-n (n ≤ {ns[-1]}) against each proxy"),
                      ("ppo", f"PPO (β = {config.ppo_beta:g}) against each proxy"),
                      ("beta", f"PPO at each β on the proxy of {config.beta_sweep_size} pairs"),
                      ("ensemble", f"best-of-n by {config.ensemble_members} proxies of "
                                   f"{config.ensemble_size} pairs, each aggregate")):
        tracker.log_figure(f"overopt/{key}", gold_figure(figures[key]), f"{what}: held-out "
                           "gold gain over the base model (and proxy reward, in std of base "
                           f"samples) against d = √KL, mean ± 95% interval over "
                           f"{config.n_seeds} seeds; dashed: Gao et al.'s fitted form")
    return summary
