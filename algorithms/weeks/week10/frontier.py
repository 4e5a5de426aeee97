"""``reward-kl-frontier``: every method of weeks 4, 9 and 10 on one plot, gold reward against
KL(π ‖ π_ref) on held-out prompts, each at several strengths of its pull to the reference.

All start from week 8's base model (the reference) on the controlled-sentiment task of week 9
and are judged alike, by the gold reward and the KL estimate E[log π/π_ref] of
``n_eval_samples`` sampled completions per test prompt (``algorithms.preference.offline``):

* **PPO** (``algorithms.preference.ppo_text``) at each fixed β of ``ppo_betas``, the score the
  gold reward itself;
* **best-of-n**: n samples of the base model, the one with the highest gold reward kept, at
  each n of ``bon_ns``; its KL is the analytic log n − (n − 1)/n (Stiennon et al. 2020, App.
  G.3; an upper bound, tight here, Beirami et al. 2024);
* **DPO** at each β of ``offline_betas``, **IPO** at each of ``ipo_betas`` (its target margin
  is 1/(2β), so a large β hardly moves it), **SimPO** and **KTO**
  (``algorithms.preference.offline``) on the noise-free (``gold``) labels of the pairs;
* **GRPO** (``algorithms.preference.grpo_training``) at each β of ``grpo_betas``, the reward
  the gold reward.

Each point is a mean over ``n_seeds`` seeds with its 95% interval. The table also checks the
expected order of PPO's KL: it should fall as β rises.

What it can show: PPO, GRPO and best-of-n optimise the gold reward directly while the offline
methods see only its pairwise labels, so the frontier compares what each family gets from the
signal it is given; a small model and short completions, so the KLs are nats, not tens of nats.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL
from algorithms.weeks.week09.common import PAIRS_ARTIFACT

UNITS = {"*gold_reward": "VADER compound", "*kl": "nats", "*length": "tokens"}


class FrontierConfig(ExperimentConfig):
    """The strengths tried per method (``ppo_betas`` etc.), each method's settings (``ppo``,
    ``offline``, ``grpo``: fields of the trainers' configs), ``n_seeds`` seeds."""

    ppo_betas: list[float] = [0.02, 0.1, 0.5]
    ppo: dict[str, Any] = {"iterations": 20, "batch_prompts": 32, "max_new_tokens": 24,
                           "epochs": 4, "minibatch": 16, "lr": 5e-5}
    bon_ns: list[int] = [1, 2, 4, 8, 16]
    offline_betas: list[float] = [0.1, 0.5]
    ipo_betas: list[float] = [0.05, 0.1]
    offline: dict[str, Any] = {"steps": 150, "batch_size": 16, "lr": 1e-4}
    simpo_beta: float = 2.0
    kto_beta: float = 0.1
    grpo_betas: list[float] = [0.04]
    grpo: dict[str, Any] = {"group_size": 8, "prompts_per_step": 4, "iterations": 20,
                            "updates_per_batch": 2, "lr": 5e-5, "max_new_tokens": 24}
    n_eval_samples: int = 4
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"ppo_betas": [0.1, 0.5],
                  "ppo": {"iterations": 1, "batch_prompts": 4, "max_new_tokens": 4,
                          "epochs": 1, "minibatch": 2},
                  "bon_ns": [1, 2], "offline_betas": [0.1], "ipo_betas": [0.1],
                  "offline": {"steps": 2, "batch_size": 4},
                  "grpo": {"group_size": 2, "prompts_per_step": 2, "iterations": 1,
                           "updates_per_batch": 1, "max_new_tokens": 4},
                  "n_eval_samples": 2, "n_seeds": 1},
        "gpu": {"ppo_betas": [0.01, 0.03, 0.1, 0.3, 1.0],
                "ppo": {"iterations": 200, "batch_prompts": 128, "max_new_tokens": 64,
                        "minibatch": 32, "lr": 1e-5},
                "bon_ns": [1, 2, 4, 8, 16, 32, 64, 128], "offline_betas": [0.05, 0.1, 0.3, 1.0],
                "ipo_betas": [0.01, 0.05, 0.1],
                "offline": {"steps": 2000, "batch_size": 64, "lr": 1e-5},
                "grpo_betas": [0.0, 0.04, 0.2],
                "grpo": {"group_size": 16, "prompts_per_step": 32, "iterations": 200,
                         "lr": 1e-5, "max_new_tokens": 64},
                "n_eval_samples": 8, "n_seeds": 5}}

    @model_validator(mode="after")
    def _valid(self) -> FrontierConfig:
        from algorithms.preference.grpo_training import GRPOConfig
        from algorithms.preference.offline import OfflineConfig
        from algorithms.preference.ppo_text import PPOTextConfig

        for beta in self.ppo_betas:  # ValueError, one line, for a β < 0 or = 0 where it matters
            PPOTextConfig(**{**self.ppo, "init_kl_coef": beta, "adaptive": False})
        for beta in self.offline_betas + self.ipo_betas:
            OfflineConfig(method="dpo", beta=beta, **self.offline)
        OfflineConfig(method="simpo", beta=self.simpo_beta, **self.offline)
        OfflineConfig(method="kto", beta=self.kto_beta, **self.offline)
        for beta in self.grpo_betas:
            GRPOConfig(**{**self.grpo, "beta": beta})
        if any(n < 1 for n in self.bon_ns) or self.n_seeds < 1 or self.n_eval_samples < 1:
            raise ValueError("best-of-n needs n >= 1; n_seeds and n_eval_samples >= 1")
        return self


@experiment(week=10, name="reward-kl-frontier", covers=(2,), config=FrontierConfig,
            units=UNITS, needs=(BASE_MODEL, PAIRS_ARTIFACT))
def reward_kl_frontier(config: FrontierConfig, tracker: Tracker) -> dict[str, float]:
    """PPO, best-of-n, DPO, IPO, SimPO, KTO and GRPO at several strengths: gold reward and KL."""
    import copy

    import numpy as np
    import torch

    from algorithms.harness import mean_ci
    from algorithms.preference.best_of_n import best_of_n_kl
    from algorithms.preference.grpo_training import GRPOConfig, train_grpo
    from algorithms.preference.offline import OfflineConfig, train_offline
    from algorithms.preference.ppo_text import PolicyWithValue, PPOTextConfig, train_ppo_text
    from algorithms.weeks.week09.common import SentimentTask

    task = SentimentTask(tracker)
    max_new = PPOTextConfig(**config.ppo).max_new_tokens
    seeds = list(range(config.seed, config.seed + config.n_seeds))
    train_pairs = [(p.prompt, *((p.a, p.b) if p.labels["gold"] else (p.b, p.a)))
                   for p in task.pairs if p.split == "train" and "gold" in p.labels]
    if len(train_pairs) < 2:
        raise InputError("the offline methods need at least two train pairs labelled 'gold'")
    points: dict[str, dict[str, Any]] = {}  # key → {"family", "label", "strength", "scores"}

    def record(key: str, family: str, label: str, strength: float, scores: list[dict]) -> None:
        points[key] = {"family": family, "label": label, "strength": strength, "scores": scores}

    def judged(policy: Any, seed: int) -> dict[str, float]:
        return task.judge(policy, config.n_eval_samples, max_new, seed).means()

    record("base", "base", "base model", 0.0, [judged(task.base, s) for s in seeds])

    for beta in config.ppo_betas:
        scores = []
        for seed in seeds:
            torch.manual_seed(seed)
            model = PolicyWithValue(copy.deepcopy(task.base))
            train_ppo_text(model, task.base, task.train, task.score, PPOTextConfig(
                **{**config.ppo, "init_kl_coef": beta, "adaptive": False, "seed": seed}),
                task.eot)
            scores.append(judged(model.lm, seed))
        record(f"ppo_beta{beta:g}", "PPO", f"PPO β={beta:g}", beta, scores)

    # best-of-n from the base model: the n = max(bon_ns) samples per prompt are drawn once per
    # seed, and best-of-n for smaller n reads the first n of them
    n_max = max(config.bon_ns)
    bon: dict[int, list[dict[str, float]]] = {n: [] for n in config.bon_ns}
    for seed in seeds:
        samples = task.judge(task.base, n_max, max_new, seed)
        for n in config.bon_ns:
            best = samples.gold[:, :n].argmax(axis=1)
            rows = np.arange(len(best))
            bon[n].append({"gold_reward": float(samples.gold[rows, best].mean()),
                           "kl": best_of_n_kl(n), "length": float(samples.length[rows, best].mean())})
    for n in config.bon_ns:
        record(f"bon_n{n}", "best-of-n", f"best-of-{n}", float(n), bon[n])

    offline_runs = [("dpo", b) for b in config.offline_betas] + \
        [("ipo", b) for b in config.ipo_betas] + \
        [("simpo", config.simpo_beta), ("kto", config.kto_beta)]
    names = {"dpo": "DPO", "ipo": "IPO", "simpo": "SimPO", "kto": "KTO"}
    for method, beta in offline_runs:
        scores = []
        for seed in seeds:
            torch.manual_seed(seed)
            policy = copy.deepcopy(task.base)
            train_offline(policy, task.base, train_pairs, OfflineConfig(
                method=method, beta=beta, seed=seed, **config.offline))
            scores.append(judged(policy, seed))
        record(f"{method}_beta{beta:g}", names[method], f"{names[method]} β={beta:g}", beta,
               scores)

    for beta in config.grpo_betas:
        scores = []
        for seed in seeds:
            torch.manual_seed(seed)
            policy = copy.deepcopy(task.base)
            train_grpo(policy, task.base, task.train, task.score,
                       GRPOConfig(**{**config.grpo, "beta": beta, "seed": seed}), task.eot)
            scores.append(judged(policy, seed))
        record(f"grpo_beta{beta:g}", "GRPO", f"GRPO β={beta:g}", beta, scores)

    summary: dict[str, float] = {"frontier.n_seeds": float(config.n_seeds)}
    rows = []
    for key, point in points.items():
        row = [point["label"], point["family"]]
        for name in ("gold_reward", "kl", "length"):
            (mean,), (half,) = mean_ci(np.array([[s[name]] for s in point["scores"]]))
            point[name] = (float(mean), float(np.nan_to_num(half)))
            summary[f"{key}.{name}"] = float(mean)
            if name != "length":
                summary[f"{key}.{name}_ci95"] = float(np.nan_to_num(half))
            row += [round(float(mean), 3)] + ([round(float(np.nan_to_num(half)), 3)]
                                              if name != "length" else [])
        rows.append(row)
    tracker.log_table("frontier/points", ["policy", "family", "held-out gold reward",
                                          "± 95% CI", "KL(π ‖ π_ref) (nats)", "± 95% CI",
                                          "completion length"], rows)
    ppo_kls = [points[f"ppo_beta{b:g}"]["kl"][0] for b in sorted(config.ppo_betas)]
    summary["ppo.kl_falls_with_beta"] = float(all(a >= b for a, b in zip(ppo_kls, ppo_kls[1:])))
    for key, point in points.items():
        if key != "base":
            summary[f"{key}.gold_gain"] = point["gold_reward"][0] - points["base"]["gold_reward"][0]
    from algorithms.weeks.week10.figures import frontier_figure

    tracker.log_figure("frontier/reward_kl", frontier_figure(points),
                       f"gold reward against KL(π ‖ π_ref) on held-out prompts: every method at "
                       f"each of its strengths, mean ± 95% interval over {config.n_seeds} seeds")
    return summary
