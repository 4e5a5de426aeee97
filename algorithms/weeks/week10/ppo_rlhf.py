"""``ppo-rlhf``: RLHF by PPO on the controlled-sentiment task, with Ziegler et al.'s adaptive KL
controller, and the dynamics of a run: score, KL, β, entropy and length over training.

Week 8's base model is the initial policy and the frozen reference; the score of a completion
is its gold reward (VADER's compound sentiment, ``algorithms.preference.gold_reward``), given
at its last token, with the per-token KL penalty β log π/π_ref at every token
(``algorithms.preference.ppo_text``, eq. 1); β adapts toward ``target_kl`` nats per completion
(eq. 2). Prompts are the train prompts of week 9's pairs; the trained policy is judged on the
held-out prompts by the gold reward and KL of ``n_eval_samples`` sampled completions per
prompt, beside the base model's, over ``n_seeds`` seeds.

What it can show: optimising the gold reward itself, there is no reward model to over-fit, so
this is the RL half of RLHF alone (week 12 puts a learned proxy in between); what the run shows
is how PPO trades reward for KL on text, and what happens to entropy and length on the way.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL
from algorithms.weeks.week09.common import PAIRS_ARTIFACT

UNITS = {"*gold_reward": "VADER compound", "*kl": "nats", "*beta": "", "*entropy": "nats",
         "*length": "tokens"}

DYNAMICS = ("score", "kl", "beta", "entropy", "completion_length")


class PPORLHFConfig(ExperimentConfig):
    """``ppo``: fields of ``algorithms.preference.ppo_text.PPOTextConfig``; ``n_seeds`` runs,
    each judged by ``n_eval_samples`` completions per held-out prompt."""

    ppo: dict[str, Any] = {"iterations": 30, "batch_prompts": 32, "max_new_tokens": 24,
                           "epochs": 4, "minibatch": 16, "lr": 5e-5, "init_kl_coef": 0.1,
                           "adaptive": True, "target_kl": 4.0}
    n_eval_samples: int = 4
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"ppo": {"iterations": 2, "batch_prompts": 4, "max_new_tokens": 4,
                          "epochs": 1, "minibatch": 2}, "n_eval_samples": 2, "n_seeds": 1},
        "gpu": {"ppo": {"iterations": 300, "batch_prompts": 128, "max_new_tokens": 64,
                        "minibatch": 32, "lr": 1e-5}, "n_eval_samples": 8, "n_seeds": 5}}

    @model_validator(mode="after")
    def _valid(self) -> PPORLHFConfig:
        from algorithms.preference.ppo_text import PPOTextConfig

        PPOTextConfig(**self.ppo)  # ValueError, one line: β < 0, a bad target
        if self.n_seeds < 1 or self.n_eval_samples < 1:
            raise ValueError("n_seeds and n_eval_samples must be >= 1")
        return self


@experiment(week=10, name="ppo-rlhf", covers=(1,), config=PPORLHFConfig, units=UNITS,
            needs=(BASE_MODEL, PAIRS_ARTIFACT))
def ppo_rlhf(config: PPORLHFConfig, tracker: Tracker) -> dict[str, float]:
    """PPO with the adaptive KL controller over seeds: training dynamics and held-out results."""
    import copy

    import numpy as np
    import torch

    from algorithms.harness import mean_ci
    from algorithms.plotting import band_figure
    from algorithms.preference.ppo_text import PolicyWithValue, PPOTextConfig, train_ppo_text
    from algorithms.weeks.week09.common import SentimentTask

    task = SentimentTask(tracker)
    ppo = PPOTextConfig(**config.ppo)
    seeds = list(range(config.seed, config.seed + config.n_seeds))
    base = [task.judge(task.base, config.n_eval_samples, ppo.max_new_tokens, s).means()
            for s in seeds]
    curves: dict[str, list[list[float]]] = {name: [] for name in DYNAMICS}
    finals, examples = [], []
    for seed in seeds:
        torch.manual_seed(seed)
        model = PolicyWithValue(copy.deepcopy(task.base))

        def on_log(row: dict[str, float], seed: int = seed) -> None:
            tracker.log({f"ppo/seed{seed}/{name}": row[name] for name in
                         (*DYNAMICS, "policy_loss", "value_loss", "clip_fraction")},
                        step=int(row["iteration"]), x="iteration")

        history = train_ppo_text(model, task.base, task.train, task.score,
                                 PPOTextConfig(**{**config.ppo, "seed": seed}), task.eot, on_log)
        for name in DYNAMICS:
            curves[name].append([row[name] for row in history])
        samples = task.judge(model.lm, config.n_eval_samples, ppo.max_new_tokens, seed)
        finals.append(samples.means())
        if seed == seeds[0]:
            examples = [[task.decode(task.test[i][1:]), samples.texts[i][0],
                         round(float(samples.gold[i, 0]), 3)] for i in range(min(6, len(task.test)))]

    summary: dict[str, float] = {"ppo.n_seeds": float(config.n_seeds)}
    rows = []
    for label, scores in (("base model", base), ("PPO (adaptive KL)", finals)):
        key = "base" if scores is base else "ppo"
        row = [label]
        for name in ("gold_reward", "kl", "length"):
            (mean,), (half,) = mean_ci(np.array([[s[name]] for s in scores]))
            summary[f"{key}.{name}"] = float(mean)
            summary[f"{key}.{name}_ci95"] = float(np.nan_to_num(half))
            row += [round(float(mean), 3), round(float(np.nan_to_num(half)), 3)]
        rows.append(row)
    summary["ppo.gold_gain"] = summary["ppo.gold_reward"] - summary["base.gold_reward"]
    arrays = {name: np.array(values) for name, values in curves.items()}
    summary["ppo.final_beta"] = float(arrays["beta"][:, -1].mean())
    summary["ppo.train_score_first"] = float(arrays["score"][:, 0].mean())
    summary["ppo.train_score_last"] = float(arrays["score"][:, -3:].mean())
    summary["ppo.entropy_first"] = float(arrays["entropy"][:, 0].mean())
    summary["ppo.entropy_last"] = float(arrays["entropy"][:, -3:].mean())
    tracker.log_table("ppo/results", ["policy", "held-out gold reward", "± 95% CI",
                                      "KL(π ‖ π_ref) (nats)", "± 95% CI", "completion length",
                                      "± 95% CI"], rows)
    tracker.log_table("ppo/samples", ["prompt", "PPO policy's continuation", "gold reward"],
                      examples)
    iterations = np.arange(arrays["score"].shape[1])
    labels = {"score": "gold reward of the batch", "kl": "KL (nats per completion)",
              "beta": "KL coefficient β", "entropy": "entropy (nats per token)",
              "completion_length": "completion length (tokens)"}
    tracker.log_figure("ppo/dynamics", band_figure(
        {labels[name]: {"PPO": (iterations, arrays[name])} for name in DYNAMICS},
        ylabel="", xlabel="PPO iteration"),
        f"RLHF dynamics: the batch's gold reward, KL, β, entropy and length per iteration, "
        f"mean ± 95% interval over {config.n_seeds} seeds")
    return summary
