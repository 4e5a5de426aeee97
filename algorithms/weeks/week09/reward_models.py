"""``reward-models``: reward models on week 8's language model, trained on ``preference-data``'s
pairs: shared against separate towers, ensembles and their uncertainty, calibration, label-noise
detection, and active elicitation.

Every model scores a full sequence (prompt and continuation) by a linear head on the final
hidden states (``algorithms.preference.reward_model``): read at the last token as in
InstructGPT (``pooling="last"``), or at every token and summed (``pooling="sum"``, the default:
the form of DPO's implicit reward, and of VADER, which sums word valences); it is trained by the
pairwise loss −log σ(r_w − r_l) (InstructGPT, Ouyang et al. 2022, eq. 1) on the train prompts'
pairs, labelled by ``annotator``, and scored on the test prompts' pairs by the gold ordering.
One more separate tower is trained with the other pooling, to compare the two.
A preference file of the user's (``[data] preferences`` in forge.toml, in the format of
``algorithms.preference.pairs``) replaces the artifact; its tokenizer must be the base model's.

* **Towers.** *Shared*: the head alone on the frozen base model's features, the policy's own
  tower (``fit_linear_head``). *Separate*: a copy of the base model fine-tuned with its head
  (``train_reward_model``), a tower of its own. Each kind is an ensemble of ``n_members``:
  shared heads on bootstrap resamples of the pairs, separate towers from different seeds (head
  initialisation and minibatch order), as Coste et al. (2024) train theirs.
* **Ensembles.** The separate towers' rewards, each centred on its mean over the test
  responses (a reward model is defined up to a constant), are combined by the mean, the worst
  case min_i r_i and the uncertainty-weighted mean − λ Var_i r_i (Coste et al. 2024, eqs. 4 and
  5); disagreement is the members' standard deviation of r_a − r_b, and the test pairs are split
  at its median to see whether the ensemble knows where it is wrong.
* **Calibration.** P(a ≻ b) = σ(r_a − r_b) of one member and of the ensemble mean, binned
  against the gold outcome: the reliability diagram and ECE (Guo et al. 2017).
* **Bag of tokens.** A context-free baseline: r(x, y) = Σ_t u[token_t], one learned number per
  vocabulary entry, an ensemble of heads on bootstrap resamples; cheap enough to refit many
  times, so the next two studies use it.
* **Label noise.** An ensemble of bag-of-tokens models trained on the ``noisy`` annotator's labels
  (a fifth flipped); each training pair's preference strength (the mean over members of
  r(chosen) − r(rejected), Wang et al. 2024) ranks the pairs, and the AUROC says how well low
  strength finds the flipped ones.
* **Active elicitation.** From ``active_start`` labelled pairs, ``active_rounds`` rounds each
  buy ``active_batch`` more labels of the ``bt`` annotator, chosen at random or where a
  bootstrap ensemble of bag-of-tokens models disagrees most (query by committee, Seung et al.
  1992); test accuracy against labels spent, over ``n_seeds`` seeds.

What it can show: the data is some thousands of pairs of short continuations of a small model,
and the gold reward is a lexicon, so a reward model that learns which words VADER scores can
rank pairs well (the bag of tokens is there to say how far that alone goes); the accuracies are
of this task, not of a human-preference data set.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL
from algorithms.weeks.week09.common import ANNOTATORS, PAIRS_ARTIFACT, load_pairs

UNITS = {"*accuracy": "", "*ece": "", "*auroc": "", "*fraction": "", "*disagreement": "reward"}

OBJECTIVES = (("mean", "mean"), ("worst_case", "worst case (min)"),
              ("uncertainty_weighted", "uncertainty-weighted (mean − λ Var)"))


class RewardModelsConfig(ExperimentConfig):
    """Towers trained on ``annotator``'s labels: ``n_members`` of each kind, separate towers
    fine-tuned ``steps`` steps of ``batch_size`` pairs at ``lr``; shared heads fitted
    ``head_steps`` full-batch steps; the head reads the last token or the sum over tokens
    (``pooling``); the active-elicitation schedule and its ``n_seeds``."""

    annotator: str = "gold"
    noisy_annotator: str = "noisy"
    active_annotator: str = "bt"
    pooling: str = "sum"
    n_members: int = 4
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-4
    head_steps: int = 300
    head_lr: float = 0.05
    head_weight_decay: float = 1e-3
    uwo_penalty: float = 1.0
    ece_bins: int = 10
    active_start: int = 100
    active_batch: int = 100
    active_rounds: int = 10
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_members": 2, "steps": 3, "batch_size": 2, "head_steps": 5,
                  "active_start": 1, "active_batch": 1, "active_rounds": 2, "n_seeds": 2},
        "gpu": {"n_members": 8, "steps": 2000, "batch_size": 64, "active_start": 200,
                "active_batch": 200, "active_rounds": 12, "n_seeds": 5}}

    @model_validator(mode="after")
    def _valid(self) -> RewardModelsConfig:
        for field in ("annotator", "noisy_annotator", "active_annotator"):
            if getattr(self, field) not in ANNOTATORS:
                raise ValueError(f"{field} {getattr(self, field)!r} is not one of "
                                 f"{', '.join(ANNOTATORS)}")
        if self.pooling not in ("last", "sum"):
            raise ValueError(f"pooling {self.pooling!r} is not one of last, sum")
        if self.n_members < 2:
            raise ValueError(f"an ensemble needs n_members >= 2, got {self.n_members}")
        if min(self.steps, self.batch_size, self.head_steps, self.active_start,
               self.active_batch, self.active_rounds, self.n_seeds) < 1:
            raise ValueError("steps, batch sizes, rounds and seeds must be >= 1")
        return self


@experiment(week=9, name="reward-models", covers=(2,), config=RewardModelsConfig, units=UNITS,
            needs=(BASE_MODEL, PAIRS_ARTIFACT))
def reward_models(config: RewardModelsConfig, tracker: Tracker) -> dict[str, float]:
    """Shared and separate towers, their ensembles, calibration, noise detection and active
    elicitation, on the sentiment pairs."""
    import copy

    import numpy as np
    import torch

    from algorithms.preference import label_noise_auroc, preference_strength, reliability
    from algorithms.preference.pairs import chosen_rejected, gold_labels
    from algorithms.preference.reward_model import RewardModel, ensemble_reward
    from algorithms.preference.reward_training import (fit_linear_head, backbone_features,
                                                       rewards_of, token_counts,
                                                       train_reward_model)
    from algorithms.weeks.week08.common import load_model_artifact

    base, _, tokenizer = load_model_artifact(tracker, BASE_MODEL)
    pairs = load_pairs(tracker, base.config.vocab_size, "the reward model's backbone")
    train = [p for p in pairs if p.split == "train"]
    test = [p for p in pairs if p.split == "test"]
    if not train or not test:
        raise InputError(f"the preference data has {len(train)} train and {len(test)} test "
                         "pairs; both are needed")
    gold_test = gold_labels(test).astype(bool)
    test_a = [p.prompt + p.a for p in test]
    test_b = [p.prompt + p.b for p in test]

    def accuracy(r_a: np.ndarray, r_b: np.ndarray) -> float:
        return float(np.mean((r_a > r_b) == gold_test))

    summary: dict[str, float] = {"data.train_pairs": float(len(train)),
                                 "data.test_pairs": float(len(test))}

    # ---- the shared tower: heads on the frozen base model's features, pooled either way
    other = "last" if config.pooling == "sum" else "sum"
    features: dict[tuple[str, tuple], np.ndarray] = {}

    def feats(rows: list[tuple], pooling: str = config.pooling) -> np.ndarray:
        missing = [r for r in dict.fromkeys(rows) if (pooling, r) not in features]
        if missing:
            for row, f in zip(missing, backbone_features(base, missing, pooling=pooling)):
                features[pooling, row] = f
        return np.stack([features[pooling, r] for r in rows])

    def head_ensemble(chosen: np.ndarray, rejected: np.ndarray, seed: int,
                      bootstrap: bool = True) -> np.ndarray:
        """(members, d): heads on bootstrap resamples of the pairs (member 0 on all of them)."""
        rng = np.random.default_rng(seed)
        heads = []
        for m in range(config.n_members):
            idx = (rng.integers(0, len(chosen), len(chosen)) if bootstrap and m > 0
                   else np.arange(len(chosen)))
            heads.append(fit_linear_head(chosen[idx], rejected[idx], config.head_steps,
                                         config.head_lr, config.head_weight_decay, seed + m))
        return np.stack(heads)

    chosen, rejected = chosen_rejected(train, config.annotator)
    for pooling, key in ((config.pooling, "shared"), (other, f"shared_{other}")):
        shared = head_ensemble(feats(chosen, pooling), feats(rejected, pooling), config.seed)
        # (members, n_test) rewards of each test response
        shared_a, shared_b = shared @ feats(test_a, pooling).T, shared @ feats(test_b, pooling).T
        summary[f"{key}.member_accuracy"] = float(np.mean([accuracy(a, b) for a, b in
                                                           zip(shared_a, shared_b)]))
        summary[f"{key}.test_accuracy"] = accuracy(shared_a.mean(0), shared_b.mean(0))
    features.clear()

    # ---- a bag of tokens: a learned reward per token, summed over the sequence, no context
    # (the prompt's counts cancel within a pair); cheap to refit, so the noise and active
    # studies use it
    def bag(rows: list[tuple]) -> np.ndarray:
        return token_counts(rows, base.config.vocab_size)

    g_test_a, g_test_b = bag(test_a), bag(test_b)
    bags = head_ensemble(bag(chosen), bag(rejected), config.seed)
    summary["bag.member_accuracy"] = float(np.mean([accuracy(a, b) for a, b in
                                                    zip(bags @ g_test_a.T, bags @ g_test_b.T)]))
    summary["bag.test_accuracy"] = accuracy((bags @ g_test_a.T).mean(0),
                                            (bags @ g_test_b.T).mean(0))

    # ---- separate towers: the base model copied and fine-tuned with its head; the ensemble
    # at ``pooling``, and one more tower with the other pooling beside it
    sep_a, sep_b = [], []
    for m in range(config.n_members + 1):
        pooling = config.pooling if m < config.n_members else other
        torch.manual_seed(config.seed + m)
        model = RewardModel(copy.deepcopy(base), pooling=pooling)
        prefix = (f"reward-models/separate/member{m}" if m < config.n_members
                  else f"reward-models/separate_{other}")

        def on_log(row: dict[str, float], prefix: str = prefix) -> None:
            tracker.log({f"{prefix}/{k}": row[k] for k in ("loss", "accuracy")},
                        step=int(row["step"]), x="train_step")

        train_reward_model(model, chosen, rejected, config.steps, config.batch_size, config.lr,
                           config.seed + m, on_log=on_log)
        sep_a.append(rewards_of(model, test_a))
        sep_b.append(rewards_of(model, test_b))
        del model
    summary[f"separate_{other}.test_accuracy"] = accuracy(sep_a.pop(), sep_b.pop())
    sep_a, sep_b = np.stack(sep_a), np.stack(sep_b)
    summary["separate.member_accuracy"] = float(np.mean([accuracy(a, b)
                                                         for a, b in zip(sep_a, sep_b)]))
    # centred per member on its mean over the test responses: a reward's constant is arbitrary
    offset = np.concatenate([sep_a, sep_b], axis=1).mean(1, keepdims=True)
    cen_a, cen_b = sep_a - offset, sep_b - offset
    for key, _ in OBJECTIVES:
        agg_a = ensemble_reward(torch.as_tensor(cen_a), key, config.uwo_penalty).numpy()
        agg_b = ensemble_reward(torch.as_tensor(cen_b), key, config.uwo_penalty).numpy()
        summary[f"ensemble.{key}.test_accuracy"] = accuracy(agg_a, agg_b)
    summary["separate.test_accuracy"] = summary["ensemble.mean.test_accuracy"]

    # ---- uncertainty and calibration
    diff = cen_a - cen_b  # (members, n_test)
    spread = diff.std(0)
    low = spread <= np.median(spread)
    right = (diff.mean(0) > 0) == gold_test
    summary["uncertainty.low_disagreement_accuracy"] = float(right[low].mean())
    summary["uncertainty.high_disagreement_accuracy"] = float(right[~low].mean()) \
        if (~low).any() else float(right.mean())
    summary["uncertainty.mean_disagreement"] = float(spread.mean())
    prob_member = 1.0 / (1.0 + np.exp(-diff[0]))
    prob_ensemble = 1.0 / (1.0 + np.exp(-diff.mean(0)))
    rel_member = reliability(prob_member, gold_test, config.ece_bins)
    rel_ensemble = reliability(prob_ensemble, gold_test, config.ece_bins)
    summary["calibration.member.ece"] = rel_member.ece
    summary["calibration.ensemble.ece"] = rel_ensemble.ece

    # ---- label noise: which training labels does an ensemble trained on them doubt?
    noisy_chosen, noisy_rejected = chosen_rejected(train, config.noisy_annotator)
    flipped = np.array([p.flipped.get(config.noisy_annotator, False) for p in train])
    fc, fr = bag(noisy_chosen), bag(noisy_rejected)
    noisy_heads = head_ensemble(fc, fr, config.seed + 100)
    strength, _ = preference_strength(noisy_heads @ fc.T, noisy_heads @ fr.T)
    summary["noise.flip_fraction"] = float(flipped.mean())
    summary["noise.auroc"] = float(np.nan_to_num(label_noise_auroc(strength, flipped), nan=0.5))
    summary["noise.test_accuracy"] = accuracy((noisy_heads @ g_test_a.T).mean(0),
                                              (noisy_heads @ g_test_b.T).mean(0))

    # ---- active elicitation with the bag-of-tokens model
    pool_c, pool_r = chosen_rejected(train, config.active_annotator)
    pc, pr = bag(pool_c), bag(pool_r)
    budgets = [min(len(train), config.active_start + r * config.active_batch)
               for r in range(config.active_rounds + 1)]
    curves_active = {"random": [], "disagreement": []}
    for seed in range(config.seed, config.seed + config.n_seeds):
        for strategy in curves_active:
            rng = np.random.default_rng(seed)
            labelled = list(rng.choice(len(train), size=budgets[0], replace=False))
            row = []
            for r, budget in enumerate(budgets):
                heads = head_ensemble(pc[labelled], pr[labelled], seed * 1000 + r)
                row.append(accuracy((heads @ g_test_a.T).mean(0), (heads @ g_test_b.T).mean(0)))
                if r == len(budgets) - 1:
                    break
                rest = np.setdiff1d(np.arange(len(train)), labelled)
                want = min(budgets[r + 1] - len(labelled), len(rest))
                if want <= 0:
                    continue
                if strategy == "random":
                    new = rng.choice(rest, size=want, replace=False)
                else:  # query by committee: the pairs whose reward difference members dispute
                    committee = (heads @ pc[rest].T) - (heads @ pr[rest].T)
                    new = rest[np.argsort(-committee.std(0))[:want]]
                labelled.extend(int(i) for i in new)
            curves_active[strategy].append(row)
    for strategy, rows in curves_active.items():
        values = np.array(rows)
        summary[f"active.{strategy}.final_accuracy"] = float(values[:, -1].mean())
        summary[f"active.{strategy}.mid_accuracy"] = float(values[:, len(budgets) // 2].mean())
        for i, budget in enumerate(budgets):
            tracker.log({f"reward-models/active/{strategy}/test_accuracy":
                         float(values[:, i].mean())}, step=budget, x="labels")
    summary["active.final_labels"] = float(budgets[-1])
    summary["active.mid_labels"] = float(budgets[len(budgets) // 2])

    _report(config, tracker, summary, (rel_member, rel_ensemble), curves_active, budgets)
    return summary


def _report(config: RewardModelsConfig, tracker: Tracker, summary: dict[str, float],
            reliabilities: tuple[Any, Any], curves_active: dict[str, list[list[float]]],
            budgets: list[int]) -> None:
    import numpy as np

    from algorithms.harness import mean_ci
    from algorithms.weeks.week09.reward_figures import active_curves, reliability_diagram

    other = "last" if config.pooling == "sum" else "sum"
    read = {"last": "read at the last token", "sum": "summed over tokens"}
    tracker.log_table("rewards/towers", ["reward model", "members", "member accuracy (mean)",
                                         "ensemble accuracy", "trained parameters"], [
        [f"shared tower: head on the frozen base model, {read[config.pooling]}",
         config.n_members, round(summary["shared.member_accuracy"], 3),
         round(summary["shared.test_accuracy"], 3), "d_model"],
        [f"shared tower: head on the frozen base model, {read[other]}", config.n_members,
         round(summary[f"shared_{other}.member_accuracy"], 3),
         round(summary[f"shared_{other}.test_accuracy"], 3), "d_model"],
        [f"separate tower: base model fine-tuned with the head, {read[config.pooling]}",
         config.n_members, round(summary["separate.member_accuracy"], 3),
         round(summary["separate.test_accuracy"], 3), "all"],
        [f"separate tower: base model fine-tuned with the head, {read[other]}", 1,
         round(summary[f"separate_{other}.test_accuracy"], 3), "—", "all"],
        ["bag of tokens: a learned reward per token, summed (no context)", config.n_members,
         round(summary["bag.member_accuracy"], 3), round(summary["bag.test_accuracy"], 3),
         "vocabulary"]])
    tracker.log_table("rewards/ensemble", ["aggregate (separate towers)", "test accuracy"],
                      [[label, round(summary[f"ensemble.{key}.test_accuracy"], 3)]
                       for key, label in OBJECTIVES])
    tracker.log_table("rewards/uncertainty", ["quantity", "value"], [
        ["accuracy, pairs the members agree on (below-median disagreement)",
         round(summary["uncertainty.low_disagreement_accuracy"], 3)],
        ["accuracy, pairs the members dispute (above-median disagreement)",
         round(summary["uncertainty.high_disagreement_accuracy"], 3)],
        ["ECE, one member", round(summary["calibration.member.ece"], 4)],
        ["ECE, ensemble mean", round(summary["calibration.ensemble.ece"], 4)],
        [f"training labels flipped ({config.noisy_annotator} annotator)",
         round(summary["noise.flip_fraction"], 3)],
        ["AUROC of low preference strength at finding them", round(summary["noise.auroc"], 3)],
        ["test accuracy of heads trained on the noisy labels",
         round(summary["noise.test_accuracy"], 3)]])
    stats = {strategy: mean_ci(np.array(curves_active[strategy], dtype=float))
             for strategy in ("random", "disagreement")}
    rows = [[budget, *(round(float(stats[s][j][i]), 3) for s in stats for j in (0, 1))]
            for i, budget in enumerate(budgets)]
    tracker.log_table("rewards/active", ["labels", "random: accuracy", "± 95% CI",
                                         "disagreement: accuracy", "± 95% CI"], rows)
    tracker.log_figure("rewards/reliability", reliability_diagram(
        {"one member": reliabilities[0], "ensemble mean": reliabilities[1]}),
        "P(a ≻ b) = σ(r_a − r_b) against how often a is the gold winner, one separate tower and "
        "the ensemble")
    tracker.log_figure("rewards/active", active_curves(
        np.array(budgets), {k: np.array(v) for k, v in curves_active.items()}),
        f"test accuracy against labels bought, random and by ensemble disagreement, "
        f"{config.n_seeds} seeds")
