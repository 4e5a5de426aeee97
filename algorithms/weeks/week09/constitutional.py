"""``constitutional-labels``: preference labels from a judge that reads a written constitution
(RLAIF: Bai et al. 2022, "Constitutional AI", §4; Lee et al. 2023, "RLAIF"), against the gold
ordering and against the synthetic human annotators, and reward models trained on each.

The judge labels every pair of ``preference-data`` (``algorithms.preference.constitution``):
for each principle of the constitution (``constitution``; forge ships ``stories.toml``:
kindness, no repetition, complete sentences), which continuation follows it better, and the
label is the weighted vote. With an LLM configured (``ANTHROPIC_API_KEY``, or ``llm.provider``
in forge.toml) the LLM is the judge, asked the principles' questions, for the first
``llm_pairs`` pairs; without one, forge runs it offline as a **rule-based judge** whose
principles are word lists and counts, a stand-in for an LLM judge, and names it so in every
table.

Measured: how often the judge abstains, its agreement with the gold ordering (and Cohen's κ)
where it does not, each principle's own agreement, and its agreement with the ``bt`` annotator,
the synthetic human. Then the question RLAIF asks: a reward model trained on AI labels against
one trained on human labels. Bag-of-tokens reward models (a learned reward per token of the
response, summed: ``reward-models``' cheapest model that ranks these pairs) are trained on the
train pairs labelled by the judge, by ``bt``, by the noisy annotator and by the gold ordering,
and scored on the test pairs against the gold ordering.

What it can show: the gold reward is itself a sentiment lexicon, so a judge whose first
principle is a kindness lexicon is measured on how well one lexicon stands in for another; the
other principles (repetition, complete sentences) say things the gold reward does not reward,
and the per-principle table shows what each adds or costs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL
from algorithms.weeks.week09.common import PAIRS_ARTIFACT, load_pairs

UNITS = {"*agreement": "", "*kappa": "", "*fraction": "", "*accuracy": ""}


class ConstitutionalConfig(ExperimentConfig):
    """``constitution``: a TOML file of principles (empty: the shipped ``stories.toml``);
    reward-model heads fitted ``head_steps`` steps, ``n_seeds`` bootstrap seeds."""

    constitution: str = ""
    llm_pairs: int = 300
    """With an LLM configured, how many pairs it judges (one request each)."""
    head_steps: int = 300
    head_lr: float = 0.05
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"head_steps": 5, "n_seeds": 1, "llm_pairs": 4}, "gpu": {"n_seeds": 5}}


@experiment(week=9, name="constitutional-labels", covers=(4,), config=ConstitutionalConfig,
            units=UNITS, needs=(BASE_MODEL, PAIRS_ARTIFACT))
def constitutional_labels(config: ConstitutionalConfig, tracker: Tracker) -> dict[str, float]:
    """The offline constitutional judge's labels against gold and human labels, and reward
    models trained on each."""
    import numpy as np

    from algorithms.harness import mean_ci
    from algorithms.preference import cohen_kappa
    from algorithms.preference.constitution import (Judgement, LLMJudge, RuleJudge,
                                                    load_constitution)
    from algorithms.preference.pairs import gold_labels
    from algorithms.preference.reward_training import fit_linear_head, token_counts
    from algorithms.weeks.week08.common import load_model_artifact

    try:
        constitution = load_constitution(config.constitution) if config.constitution \
            else load_constitution()
    except ValueError as error:
        raise InputError(str(error)) from None
    base, _, _ = load_model_artifact(tracker, BASE_MODEL)
    pairs = load_pairs(tracker, base.config.vocab_size)
    ask = tracker.llm_judge()
    if ask is not None:  # the configured LLM judges the first llm_pairs pairs; the rest abstain
        judge = LLMJudge(constitution, ask)
        verdicts = [judge.compare(p.text.get("prompt", ""), p.text.get("a", ""),
                                  p.text.get("b", "")) if i < config.llm_pairs
                    else Judgement(None, {}, 0.0) for i, p in enumerate(pairs)]
    else:
        judge = RuleJudge(constitution)
        verdicts = [judge.compare(p.text.get("prompt", ""), p.text.get("a", ""),
                                  p.text.get("b", "")) for p in pairs]
    gold = gold_labels(pairs)
    decided = np.array([v.label is not None for v in verdicts])
    ai = np.array([v.label if v.label is not None else -1 for v in verdicts])
    human = np.array([p.labels.get("bt", -1) for p in pairs])
    summary: dict[str, float] = {
        "judge.abstain_fraction": float(1 - decided.mean()),
        "judge.gold_agreement": float(np.mean(ai[decided] == gold[decided])) if decided.any()
        else 0.5,
        "judge.gold_kappa": float(np.nan_to_num(cohen_kappa(ai[decided], gold[decided])))
        if decided.sum() > 1 else 0.0,
        "judge.human_agreement": float(np.mean(ai[decided] == human[decided]))
        if decided.any() else 0.5,
        "human.gold_agreement": float(np.mean(human == gold)),
    }
    if ask is not None:
        summary["judge.llm_calls"] = float(getattr(ask, "calls", 0))
        summary["judge.llm_retries"] = float(getattr(ask, "retries", 0))
        cost = getattr(ask, "cost_usd", None)
        if cost is not None:
            summary["judge.llm_cost_usd"] = float(cost)
    rows = []
    for principle in (constitution.principles if ask is None else ()):
        votes = np.array([v.votes[principle.name] for v in verdicts])
        voted = votes != 0
        agree = float(np.mean((votes[voted] > 0) == gold[voted].astype(bool))) if voted.any() \
            else float("nan")
        summary[f"principle.{principle.name}.gold_agreement"] = float(np.nan_to_num(agree, nan=0.5))
        summary[f"principle.{principle.name}.vote_fraction"] = float(voted.mean())
        rows.append([principle.name, principle.rule, principle.weight,
                     round(float(voted.mean()), 3), round(agree, 3)])
    rows.append(["all (weighted vote)", judge.name, "—", round(float(decided.mean()), 3),
                 round(summary["judge.gold_agreement"], 3)])
    tracker.log_table("constitution/principles", [
        "principle", "rule", "weight", "pairs it votes on", "agreement with gold where it votes"],
        rows)

    # ---- reward models from each source of labels (shared tower), scored against gold
    train_idx = [i for i, p in enumerate(pairs) if p.split == "train"]
    test_idx = [i for i, p in enumerate(pairs) if p.split == "test"]
    if not train_idx or not test_idx:
        raise InputError("the preference data needs train and test pairs")
    feats_a = token_counts([p.a for p in pairs], base.config.vocab_size)
    feats_b = token_counts([p.b for p in pairs], base.config.vocab_size)
    sources = {f"AI labels: {judge.name}": ai, "human labels (bt annotator)": human,
               "noisy human labels (20% flipped)": np.array([p.labels.get("noisy", -1)
                                                              for p in pairs]),
               "gold ordering": gold.astype(int)}
    keys = {f"AI labels: {judge.name}": "ai", "human labels (bt annotator)": "human",
            "noisy human labels (20% flipped)": "noisy", "gold ordering": "gold"}
    table = []
    test = np.array(test_idx)
    for label, labels in sources.items():
        use = np.array([i for i in train_idx if labels[i] in (0, 1)])
        if len(use) < 2:
            continue
        a_wins = labels[use] == 1
        chosen = np.where(a_wins[:, None], feats_a[use], feats_b[use])
        rejected = np.where(a_wins[:, None], feats_b[use], feats_a[use])
        accuracies = []
        for seed in range(config.seed, config.seed + config.n_seeds):
            rng = np.random.default_rng(seed)
            boot = rng.integers(0, len(use), len(use)) if seed != config.seed \
                else np.arange(len(use))
            w = fit_linear_head(chosen[boot], rejected[boot], config.head_steps, config.head_lr,
                                seed=seed)
            margin = feats_a[test] @ w - feats_b[test] @ w
            accuracies.append(float(np.mean((margin > 0) == gold[test].astype(bool))))
        (mean,), (half,) = mean_ci(np.array(accuracies)[:, None])
        key = keys[label]
        summary[f"rm.{key}.test_accuracy"] = float(mean)
        summary[f"rm.{key}.train_pairs"] = float(len(use))
        table.append([label, len(use), round(float(mean), 3), round(float(np.nan_to_num(half)), 3)])
    tracker.log_table("constitution/reward_models", [
        "reward model trained on", "train pairs", "held-out accuracy (gold ordering)",
        "± 95% CI"], table)
    summary["judge.n_principles"] = float(len(constitution.principles))
    return summary
