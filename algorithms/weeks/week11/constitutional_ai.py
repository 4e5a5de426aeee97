"""``constitutional-ai``: the Constitutional AI pipeline
(:mod:`algorithms.safety.constitutional_ai`, Bai et al. 2022) on week 8's TinyStories base model,
where "harmful" means an unkind, frightening or negative story continuation.

Per seed:

* **Red-team prompts**: ``pool`` held-out story openings, ``pool_samples`` base-model
  continuations each; the openings whose continuations have the lowest mean VADER compound are
  the red-team prompts (``n_red_train`` + ``n_red_test``, split at random); ``n_ordinary_*``
  others drawn at random from the rest are the ordinary prompts.
* **Critique → revision** of the base model's responses to the train prompts (red-team and
  ordinary, as Bai et al. mix helpfulness data in): with an LLM configured
  (``tracker.llm_judge()``), the LLM critiques and rewrites the first response; offline (the
  default) the "revision" is **best-of-n rejection sampling under the rule-based judge** of the
  constitution (``stories.toml``: kindness lexicon, no repetition, complete sentences), i.e. a
  selection, not a rewrite. Every table and the summary (``feedback.offline``) say which.
* **SL-CAI**: the base model fine-tuned on (prompt, revision), cross-entropy on the revision's
  tokens. **RL-CAI**: pairs of SL-CAI samples labelled by the same judge, DPO from SL-CAI.
* **Evaluation** of base, SL-CAI and RL-CAI on the held-out red-team and ordinary prompts by
  judges other than the training judge: VADER (share of continuations with compound < −0.05, and
  mean compound), the frozen base model's mean per-token log-likelihood of the continuation
  (fluency), continuation length and the share of empty ones (a collapse shows there), and KL
  to the base. The training judge's own kindness-lexicon flag rate is reported beside them, as
  the number the training optimised. Mean ± 95% interval over ``n_seeds`` seeds.

What it can show: the training judge and VADER are both word lexicons of sentiment, so VADER is
separate from the judge but not independent of it; the red-team prompts are chosen by VADER on
other samples than the ones evaluated, so regression to the mean moves the base model and the
trained ones alike.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL

UNITS = {"*negative_share": "fraction", "*compound": "VADER compound", "*fluency": "nats/token",
         "*length": "tokens", "*kl": "nats", "*flagged": "fraction", "*empty_share": "fraction"}
MODELS = {"base": "base model", "sl_cai": "SL-CAI", "rl_cai": "RL-CAI (DPO on AI labels)"}
SPLITS = {"red_team": "held-out red-team prompts", "ordinary": "held-out ordinary prompts"}
METRICS = ("negative_share", "compound", "lexicon_flagged", "fluency", "length", "empty_share",
           "kl")


class CAIExperimentConfig(ExperimentConfig):
    """Prompt pool and splits, the pipeline's settings (``cai``: fields of ``CAIConfig`` but
    ``sft``/``dpo``; ``sft``: of ``SFTConfig``; ``dpo``: of ``OfflineConfig``), evaluation
    samples per prompt, seeds; ``constitution`` a TOML file (empty: ``stories.toml``)."""

    constitution: str = ""
    pool: int = 240
    pool_samples: int = 8
    prompt_tokens: int = 12
    min_tokens: int = 40
    n_red_train: int = 48
    n_red_test: int = 32
    n_ordinary_train: int = 48
    n_ordinary_test: int = 32
    cai: dict[str, Any] = {"n_revision": 8, "n_preference": 4, "max_new_tokens": 32}
    sft: dict[str, Any] = {"steps": 60, "batch_size": 16, "lr": 1e-4}
    dpo: dict[str, Any] = {"steps": 60, "batch_size": 16, "lr": 5e-5, "beta": 0.1}
    n_eval_samples: int = 8
    llm_prompts: int = 32
    """With an LLM configured, the train prompts it revises and labels (per seed)."""
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"pool": 16, "pool_samples": 2, "prompt_tokens": 6, "min_tokens": 10,
                  "n_red_train": 4, "n_red_test": 2, "n_ordinary_train": 4,
                  "n_ordinary_test": 2, "cai": {"n_revision": 3, "n_preference": 2,
                                                "max_new_tokens": 6},
                  "sft": {"steps": 2, "batch_size": 4}, "dpo": {"steps": 2, "batch_size": 2},
                  "n_eval_samples": 2, "llm_prompts": 4, "n_seeds": 1},
        "gpu": {"pool": 2_000, "pool_samples": 8, "n_red_train": 400, "n_red_test": 200,
                "n_ordinary_train": 400, "n_ordinary_test": 200,
                "cai": {"n_revision": 16, "n_preference": 8, "max_new_tokens": 64},
                "sft": {"steps": 1_000, "batch_size": 64, "lr": 1e-4},
                "dpo": {"steps": 1_000, "batch_size": 64, "lr": 2e-5},
                "n_eval_samples": 16, "n_seeds": 5}}

    @model_validator(mode="after")
    def _valid(self) -> CAIExperimentConfig:
        need = self.n_red_train + self.n_red_test + self.n_ordinary_train + self.n_ordinary_test
        if min(self.n_red_train, self.n_red_test, self.n_ordinary_test) < 1 \
                or self.n_ordinary_train < 0 or self.pool < need:
            raise ValueError(f"the splits need >= 1 red-team train/test and ordinary test "
                             f"prompts and a pool of at least their sum ({need}), got "
                             f"pool={self.pool}")
        if min(self.pool_samples, self.n_eval_samples, self.n_seeds, self.prompt_tokens) < 1:
            raise ValueError("pool_samples, n_eval_samples, n_seeds and prompt_tokens must be "
                             ">= 1")
        self.pipeline(0)  # ValueError, one line, for a bad trainer setting
        return self

    def pipeline(self, seed: int) -> Any:
        from algorithms.preference.offline import OfflineConfig
        from algorithms.safety.constitutional_ai import CAIConfig, SFTConfig

        OfflineConfig(**{"method": "dpo", **self.dpo})
        return CAIConfig(**self.cai, sft=SFTConfig(**{**self.sft, "seed": seed}),
                         dpo=dict(self.dpo))


class Setup:
    """What both week-11 safety experiments load: the base model, tokenizer, held-out text,
    the constitution, the training judge (LLM or offline rule judge) and the LLM reviser."""

    def __init__(self, tracker: Tracker, constitution: str = ""):
        from algorithms.lm.data import corpus_files
        from algorithms.preference.constitution import (LLMJudge, RuleJudge,
                                                        load_constitution)
        from algorithms.weeks.week08.common import eot_of, load_model_artifact

        try:
            self.constitution = load_constitution(constitution) if constitution \
                else load_constitution()
        except ValueError as error:
            raise InputError(str(error)) from None
        base, _, self.tokenizer = load_model_artifact(tracker, BASE_MODEL)
        self.base = base.cpu().float().eval()
        for p in self.base.parameters():
            p.requires_grad_(False)  # the frozen reference of every KL and fluency score
        self.eot = eot_of(self.tokenizer)
        self.text = corpus_files("tinystories")[1].read_text(encoding="utf-8")
        self.ask = tracker.llm_judge()
        self.offline = self.ask is None
        self.judge = RuleJudge(self.constitution) if self.offline \
            else LLMJudge(self.constitution, self.ask)

    def decode(self, ids: Any) -> str:
        ids = [i for i in ids if i != self.eot]
        return self.tokenizer.decode(ids) if ids else ""

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text) if text else []

    def reviser(self) -> Any:
        """None offline (best-of-n under the rule judge), else the LLM's critique → revision."""
        if self.offline:
            return None
        from algorithms.safety.constitutional_ai import llm_revise

        return lambda prompt, response: llm_revise(self.ask, self.constitution, prompt,
                                                   response)

    def llm_usage(self) -> dict[str, float]:
        """The LLM's calls, retries and cost as summary keys (none offline)."""
        if self.offline:
            return {}
        out = {f"feedback.llm_{k}": float(getattr(self.ask, k, 0) or 0)
               for k in ("calls", "retries")}
        if getattr(self.ask, "cost_usd", None) is not None:
            out["feedback.llm_cost_usd"] = float(self.ask.cost_usd)
        return out

    def feedback_name(self) -> str:
        from algorithms.preference.constitution import OFFLINE_JUDGE

        return (f"best-of-n rejection sampling under the {OFFLINE_JUDGE}" if self.offline
                else f"critique → revision by {self.judge.name}")


def prompt_splits(setup: Setup, config: CAIExperimentConfig, seed: int,
                  max_new_tokens: int) -> dict[str, list[list[int]]]:
    """Red-team (lowest mean VADER compound of the base model's pool samples) and ordinary
    (random among the rest) train and test prompts, for ``seed``."""
    import numpy as np

    from algorithms.preference.gold_reward import gold_reward
    from algorithms.safety.constitutional_ai import sample_grouped
    from algorithms.weeks.week09.common import story_openings

    rng = np.random.default_rng([seed, 11])
    try:
        pool = story_openings(setup.text, setup.tokenizer, setup.eot, config.pool,
                              config.prompt_tokens, config.min_tokens, rng)
    except ValueError as error:
        raise InputError(str(error)) from None
    samples = sample_grouped(setup.base, pool, config.pool_samples, max_new_tokens, setup.eot,
                             seed + 1_000)
    compound = gold_reward([setup.decode(c) for g in samples for c in g]).reshape(
        len(pool), config.pool_samples).mean(axis=1)
    order = np.argsort(compound, kind="stable")
    n_red = config.n_red_train + config.n_red_test
    red = rng.permutation(order[:n_red])
    rest = rng.permutation(order[n_red:])
    n_ord = config.n_ordinary_train + config.n_ordinary_test
    ordinary = rest[:n_ord]
    return {"red_train": [pool[i] for i in red[:config.n_red_train]],
            "red_test": [pool[i] for i in red[config.n_red_train:]],
            "ordinary_train": [pool[i] for i in ordinary[:config.n_ordinary_train]],
            "ordinary_test": [pool[i] for i in ordinary[config.n_ordinary_train:]],
            "pool_compound": [float(compound[red].mean()), float(compound[ordinary].mean())]}


def train_for_seed(setup: Setup, config: CAIExperimentConfig, tracker: Tracker, seed: int,
                   splits: dict[str, Any], prefix: str = "cai") -> Any:
    """The SL-CAI and RL-CAI models of one seed (:func:`train_constitutional`), curves logged."""
    import torch

    from algorithms.safety.constitutional_ai import train_constitutional

    prompts = splits["red_train"] + splits["ordinary_train"]
    if not setup.offline:
        prompts = prompts[:config.llm_prompts]
    torch.manual_seed(seed)
    return train_constitutional(
        setup.base, prompts, setup.decode, setup.encode, setup.judge, config.pipeline(seed),
        setup.eot, seed, revise=setup.reviser(),
        on_sft=lambda row: tracker.log({f"{prefix}/seed{seed}/sft_loss": row["loss"]},
                                       step=row["step"], x="sft_step"),
        on_dpo=lambda row: tracker.log({f"{prefix}/seed{seed}/dpo_{k.replace('/', '_')}": v
                                        for k, v in row.items() if k != "step"},
                                       step=row["step"], x="dpo_step"))


@experiment(week=11, name="constitutional-ai", covers=(1,), config=CAIExperimentConfig,
            units=UNITS, needs=(BASE_MODEL,))
def constitutional_ai(config: CAIExperimentConfig, tracker: Tracker) -> dict[str, float]:
    """Constitutional AI on the story model: red-team prompts, critique → revision (offline:
    best-of-n under the rule judge), SL-CAI, RL-CAI (DPO on AI labels); harmlessness and
    helpfulness before and after, by judges other than the training judge."""
    import numpy as np

    from algorithms.harness import mean_ci
    from algorithms.safety.constitutional_ai import evaluate_policy
    from algorithms.safety.red_team import LexiconDetector, constitution_negative_words
    from algorithms.weeks.week11 import cai_figures

    setup = Setup(tracker, config.constitution)
    pipeline = config.pipeline(config.seed)
    lexicon = LexiconDetector(constitution_negative_words(setup.constitution))
    seeds = list(range(config.seed, config.seed + config.n_seeds))
    scores: dict[str, dict[str, dict[str, list[float]]]] = {
        s: {m: {k: [] for k in METRICS} for m in MODELS} for s in SPLITS}
    stats: dict[str, list[float]] = {k: [] for k in (
        "sft_examples", "preference_pairs", "undecided_pairs", "revision_judge_gain",
        "sft_final_loss", "dpo_final_accuracy", "pool_red_compound", "pool_ordinary_compound")}
    examples: list[list[Any]] = []
    for seed in tracker.track(seeds, total=len(seeds), description="CAI seeds"):
        splits = prompt_splits(setup, config, seed, pipeline.max_new_tokens)
        result = train_for_seed(setup, config, tracker, seed, splits)
        models = {"base": setup.base, "sl_cai": result.sl_model, "rl_cai": result.rl_model}
        for split, prompts in (("red_team", splits["red_test"]),
                               ("ordinary", splits["ordinary_test"])):
            for name, model in models.items():
                # one evaluation seed per (seed, split), shared by the three models
                metrics = evaluate_policy(model, setup.base, prompts, config.n_eval_samples,
                                          pipeline.max_new_tokens, setup.decode, setup.eot,
                                          seed + 2_000 + (split == "ordinary"),
                                          {"lexicon": lexicon})
                for key in METRICS:
                    scores[split][name][key].append(metrics[key])
        stats["sft_examples"].append(float(len(result.revisions)))
        stats["preference_pairs"].append(float(result.n_pairs))
        stats["undecided_pairs"].append(float(result.n_undecided))
        stats["revision_judge_gain"].append(result.revision_judge_gain)
        stats["sft_final_loss"].append(result.sft_history[-1]["loss"])
        stats["dpo_final_accuracy"].append(result.dpo_history[-1]["rewards/accuracy"]
                                           if result.dpo_history else float("nan"))
        stats["pool_red_compound"].append(splits["pool_compound"][0])
        stats["pool_ordinary_compound"].append(splits["pool_compound"][1])
        if seed == seeds[0]:
            examples = [[p, r0, rev] for p, r0, rev in result.revisions[:8]]

    summary: dict[str, float] = {"feedback.offline": float(setup.offline),
                                 "n_seeds": float(len(seeds)), **setup.llm_usage()}
    rows = []
    for split, by_model in scores.items():
        for name, by_metric in by_model.items():
            row = [SPLITS[split], MODELS[name]]
            for key, values in by_metric.items():
                (mean,), (half,) = mean_ci(np.array(values)[:, None])
                summary[f"{split}.{name}.{key}"] = float(np.nan_to_num(mean))
                summary[f"{split}.{name}.{key}_ci95"] = float(np.nan_to_num(half))
                row.append(f"{mean:.3f} ± {half:.3f}")
            rows.append(row)
    for key, values in stats.items():  # NaN: no seed had enough decided pairs for DPO
        finite = [v for v in values if np.isfinite(v)]
        summary[f"pipeline.{key}"] = float(np.mean(finite)) if finite else 0.0
    feedback = setup.feedback_name()
    tracker.log_table("cai/results", [
        "prompts", "model", "VADER negative share (< −0.05)", "VADER mean compound",
        "training judge's kindness-lexicon flag rate", "fluency: base log-lik/token",
        "length (tokens)", "empty share", "KL to base (nats)"],
        rows + [[f"feedback: {feedback}", "—", *["—"] * 7]])
    tracker.log_table("cai/revisions", ["prompt", "first response", f"revision ({feedback})"],
                      examples)
    tracker.log_table("cai/pipeline", ["quantity", "mean over seeds"],
                      [[k, round(summary[f"pipeline.{k}"], 4)] for k in stats])
    tracker.log_figure(
        "cai/before_after", cai_figures.before_after(scores, MODELS, SPLITS),
        f"Base model, SL-CAI (fine-tuned on revisions) and RL-CAI (DPO on AI preference "
        f"labels) on held-out red-team and ordinary story openings: VADER negative share, "
        f"fluency (the frozen base model's log-likelihood per token), length and KL to the "
        f"base; mean ± 95% interval over {len(seeds)} seeds, each seed a dot. Feedback: "
        f"{feedback}.")
    return summary
