"""``grpo``: Group Relative Policy Optimization (Shao et al. 2024) on two language tasks, the last
step of REINFORCE → PPO → GRPO: a critic-free PPO whose baseline is the mean reward of a group
of completions of the same prompt.

* **Sentiment** (the controlled-sentiment task of week 9): week 8's base model continues story
  openings (the train prompts of ``prefs:sentiment-pairs``), the reward is the VADER gold reward
  of the continuation, and the three token normalisations of the loss, ``grpo`` (eq. 3's mean
  per sequence), ``bnpo`` (one mean over the batch's tokens) and ``dr_grpo`` (a constant
  divisor, Liu et al. 2025), are trained at the same settings. Judged on the held-out prompts:
  gold reward and KL(π ‖ π_ref) of sampled continuations, and their length (the normalisations
  differ in how they weigh long and short completions).
* **Arithmetic** (a verifiable reward): a small model of week 8's architecture is first trained
  by supervised learning on 1- and 2-digit addition (``algorithms.emergence``, answers reversed),
  briefly, so that it solves some 2-digit problems; GRPO then trains it on 2-digit prompts with
  reward 1 for an exactly right answer and 0 otherwise (DeepSeekMath's rule-based outcome
  reward). Judged by greedy exact match on held-out problems, before and after.

The reward is logged at every iteration, not only the loss: GRPO's loss is about 0 by
construction, since a group's advantages sum to 0.

What it can show: a few dozen iterations on a laptop; the question is whether the reward rises
and what it costs in KL, not how far GRPO can go.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL
from algorithms.weeks.week09.common import PAIRS_ARTIFACT

UNITS = {"*gold_reward": "VADER compound", "*kl": "nats", "*length": "tokens",
         "*exact_match": "", "*reward": ""}


class GRPOStudyConfig(ExperimentConfig):
    """``sentiment``: fields of ``algorithms.preference.grpo_training.GRPOConfig`` shared by the
    three ``loss_types``; ``arithmetic`` likewise for the addition run, after ``sft_steps`` of
    supervised training of a (``arith_d_model``, ``arith_layers``) model; ``n_seeds`` each."""

    loss_types: list[str] = ["grpo", "bnpo", "dr_grpo"]
    sentiment: dict[str, Any] = {"group_size": 8, "prompts_per_step": 4, "iterations": 30,
                                 "updates_per_batch": 2, "lr": 5e-5, "beta": 0.04,
                                 "max_new_tokens": 24}
    n_eval_samples: int = 4
    arithmetic: dict[str, Any] = {"group_size": 8, "prompts_per_step": 32, "iterations": 60,
                                  "updates_per_batch": 2, "lr": 1e-5, "beta": 0.04}
    arith_width: int = 2
    arith_d_model: int = 64
    arith_layers: int = 2
    sft_steps: int = 600
    n_test: int = 500
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"loss_types": ["grpo", "dr_grpo"],
                  "sentiment": {"group_size": 2, "prompts_per_step": 2, "iterations": 2,
                                "updates_per_batch": 1, "max_new_tokens": 4},
                  "n_eval_samples": 2,
                  "arithmetic": {"group_size": 2, "prompts_per_step": 2, "iterations": 2,
                                 "updates_per_batch": 1},
                  "arith_d_model": 16, "arith_layers": 1, "sft_steps": 4, "n_test": 20,
                  "n_seeds": 1},
        "gpu": {"sentiment": {"group_size": 16, "prompts_per_step": 32, "iterations": 300,
                              "lr": 1e-5, "max_new_tokens": 64},
                "n_eval_samples": 8,
                "arithmetic": {"group_size": 16, "prompts_per_step": 64, "iterations": 300,
                               "lr": 1e-4},
                "arith_width": 3, "arith_d_model": 128, "arith_layers": 3, "sft_steps": 3000,
                "n_test": 2000, "n_seeds": 5}}

    @model_validator(mode="after")
    def _valid(self) -> GRPOStudyConfig:
        from algorithms.preference.grpo_training import GRPOConfig

        for loss_type in self.loss_types:  # ValueError, one line: group_size 1, bad loss_type
            GRPOConfig(**{**self.sentiment, "loss_type": loss_type})
        GRPOConfig(**self.arithmetic)
        if not self.loss_types or self.n_seeds < 1 or self.sft_steps < 1 or self.n_test < 1:
            raise ValueError("need loss_types, and n_seeds, sft_steps and n_test >= 1")
        return self


@experiment(week=4, name="grpo", covers=(1,), config=GRPOStudyConfig, units=UNITS,
            needs=(BASE_MODEL, PAIRS_ARTIFACT))
def grpo(config: GRPOStudyConfig, tracker: Tracker) -> dict[str, float]:
    """GRPO's three normalisations on the sentiment task and GRPO on exact-answer addition."""
    summary: dict[str, float] = {}
    summary.update(_sentiment(config, tracker))
    summary.update(_arithmetic(config, tracker))
    summary["grpo.n_seeds"] = float(config.n_seeds)
    return summary


def _log_history(tracker: Tracker, prefix: str, history: list[dict[str, float]]) -> None:
    for row in history:
        tracker.log({f"{prefix}/{name}": row[name] for name in
                     ("reward", "reward_std", "kl", "clip/fraction", "completion_length")},
                    step=int(row["iteration"]), x="iteration")


def _sentiment(config: GRPOStudyConfig, tracker: Tracker) -> dict[str, float]:
    import copy

    import numpy as np
    import torch

    from algorithms.harness import mean_ci
    from algorithms.preference.grpo_training import GRPOConfig, train_grpo
    from algorithms.weeks.week09.common import SentimentTask

    task = SentimentTask(tracker)
    base = task.base
    max_new = GRPOConfig(**config.sentiment).max_new_tokens

    def judge(policy: Any, seed: int) -> dict[str, float]:
        return task.judge(policy, config.n_eval_samples, max_new, seed).means()

    seeds = range(config.seed, config.seed + config.n_seeds)
    base_scores = [judge(base, seed) for seed in seeds]
    summary = {f"sentiment.base.{k}": float(np.mean([s[k] for s in base_scores]))
               for k in ("gold_reward", "kl", "length")}
    rows, curves = [], {}
    for loss_type in config.loss_types:
        scores, rewards = [], []
        for seed in seeds:
            torch.manual_seed(seed)
            policy = copy.deepcopy(base)
            history = train_grpo(policy, base, task.train, task.score,
                                 GRPOConfig(**{**config.sentiment, "loss_type": loss_type,
                                               "seed": seed}), eos_id=task.eot)
            _log_history(tracker, f"grpo/sentiment/{loss_type}/seed{seed}", history)
            rewards.append([row["reward"] for row in history])
            scores.append(judge(policy, seed))
        curves[loss_type] = np.array(rewards)
        row = [loss_type]
        for name in ("gold_reward", "kl", "length"):
            (mean,), (half,) = mean_ci(np.array([[s[name]] for s in scores]))
            summary[f"sentiment.{loss_type}.{name}"] = float(mean)
            summary[f"sentiment.{loss_type}.{name}_ci95"] = float(np.nan_to_num(half))
            row += [round(float(mean), 3), round(float(np.nan_to_num(half)), 3)]
        summary[f"sentiment.{loss_type}.train_reward_first"] = float(curves[loss_type][:, 0].mean())
        summary[f"sentiment.{loss_type}.train_reward_last"] = float(curves[loss_type][:, -1].mean())
        rows.append(row)
    rows.insert(0, ["base model", round(summary["sentiment.base.gold_reward"], 3), "—",
                    round(summary["sentiment.base.kl"], 3), "—",
                    round(summary["sentiment.base.length"], 2), "—"])
    tracker.log_table("grpo/sentiment", ["loss normalisation", "held-out gold reward",
                                         "± 95% CI", "KL(π ‖ π_ref) (nats)", "± 95% CI",
                                         "completion length", "± 95% CI"], rows)
    from algorithms.plotting import band_figure

    iterations = np.arange(curves[config.loss_types[0]].shape[1])
    tracker.log_figure("grpo/sentiment_reward", band_figure(
        {"sentiment": {k: (iterations, v) for k, v in curves.items()}},
        ylabel="mean gold reward of the batch", xlabel="GRPO iteration"),
        f"the training batch's mean gold reward per GRPO iteration, each loss normalisation, "
        f"mean ± 95% interval over {config.n_seeds} seeds")
    return summary


def _arithmetic(config: GRPOStudyConfig, tracker: Tracker) -> dict[str, float]:
    import numpy as np
    import torch

    from algorithms.emergence.metrics import score
    from algorithms.emergence.tasks import (VOCAB_SIZE, answer_length, held_out_set,
                                            prompt_length, sample, sequence_length)
    from algorithms.emergence.tasks import encode as encode_problems
    from algorithms.emergence.train import train_addition
    from algorithms.harness import mean_ci
    from algorithms.lm.config import LMConfig
    from algorithms.lm.model import LanguageModel
    from algorithms.lm.train import TrainConfig
    from algorithms.preference.grpo_training import GRPOConfig, train_grpo

    width = config.arith_width
    n_prompt, n_answer = prompt_length(width), answer_length(width)
    test = held_out_set(width, config.n_test)
    before, after, curves = [], [], []
    for seed in range(config.seed, config.seed + config.n_seeds):
        torch.manual_seed(seed)
        model = LanguageModel(LMConfig(
            vocab_size=VOCAB_SIZE, d_model=config.arith_d_model, n_layers=config.arith_layers,
            n_heads=max(1, config.arith_d_model // 16), max_seq_len=sequence_length(width),
            multiple_of=8))
        train_addition(model, width, TrainConfig(
            steps=config.sft_steps, batch_size=64, block_size=sequence_length(width), lr=1e-3,
            warmup_steps=max(1, config.sft_steps // 10), weight_decay=0.1,
            log_every=max(1, config.sft_steps // 10), seed=seed))
        model.eval()
        before.append(score(model, test, width).means()["exact_match"])
        reference = LanguageModel(model.config)
        reference.load_state_dict(model.state_dict())
        reference.eval()
        rng = np.random.default_rng([seed, 7])
        problems = encode_problems(*sample(width, 4096, rng), width)
        prompts = [row[:n_prompt].tolist() for row in problems]
        answers = {tuple(row[:n_prompt].tolist()): row[n_prompt:].tolist() for row in problems}

        def reward(prompts: Any, completions: Any) -> np.ndarray:
            return np.array([float(list(c[:n_answer]) == answers[tuple(p)])
                             for p, c in zip(prompts, completions)])

        history = train_grpo(model, reference, prompts, reward, GRPOConfig(
            **{**config.arithmetic, "max_new_tokens": n_answer, "seed": seed}))
        _log_history(tracker, f"grpo/arithmetic/seed{seed}", history)
        curves.append([row["reward"] for row in history])
        model.eval()
        after.append(score(model, test, width).means()["exact_match"])
    before_a, after_a = np.array(before), np.array(after)
    (b_mean,), (b_half,) = mean_ci(before_a[:, None])
    (a_mean,), (a_half,) = mean_ci(after_a[:, None])
    (d_mean,), (d_half,) = mean_ci((after_a - before_a)[:, None])
    summary = {"arithmetic.sft.exact_match": float(b_mean),
               "arithmetic.grpo.exact_match": float(a_mean),
               "arithmetic.grpo.exact_match_delta": float(d_mean),
               "arithmetic.grpo.exact_match_delta_ci95": float(np.nan_to_num(d_half)),
               "arithmetic.width": float(width)}
    tracker.log_table("grpo/arithmetic", ["model", f"held-out exact match ({width}-digit)",
                                          "± 95% CI", "per seed"], [
        [f"supervised, {config.sft_steps} steps", round(float(b_mean), 3),
         round(float(np.nan_to_num(b_half)), 3), " ".join(f"{v:.3f}" for v in before)],
        [f"+ GRPO, {GRPOConfig(**config.arithmetic).iterations} iterations",
         round(float(a_mean), 3), round(float(np.nan_to_num(a_half)), 3),
         " ".join(f"{v:.3f}" for v in after)],
        ["change", round(float(d_mean), 3), round(float(np.nan_to_num(d_half)), 3), ""]])
    from algorithms.plotting import band_figure

    values = np.array(curves)
    tracker.log_figure("grpo/arithmetic_reward", band_figure(
        {f"{width}-digit addition": {"GRPO": (np.arange(values.shape[1]), values)}},
        ylabel="share of exactly right answers in the batch", xlabel="GRPO iteration"),
        f"the training batch's exact-answer reward per GRPO iteration, mean ± 95% interval "
        f"over {config.n_seeds} seeds")
    return summary
