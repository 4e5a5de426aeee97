"""``generation-quality``: samples of every model size under several decoding rules, measured.

Decoding is a policy over next tokens (the notes' week-1 link: the state is the prefix, the
action the next token), and each rule reshapes the model's distribution before sampling:
greedy takes the argmax, temperature T divides the logits, top-k keeps the k likeliest tokens
(Fan et al. 2018) and nucleus sampling keeps the smallest set holding probability p (Holtzman et
al. 2020, §3.1). Three measurements per (model, rule):

* distinct-n (Li et al. 2016, §4.1): unique n-grams over all n-grams of the samples — diversity;
* repetition-4 (Welleck et al. 2020, seq-rep-4): the share of a sample's 4-grams it already
  produced — degeneration into loops;
* judge perplexity: exp of the mean negative log-likelihood that the largest model (of equal
  sizes, the base model, trained longest) assigns to the sample's tokens — fluency as the best model here sees it, the way larger LMs score
  samples in the literature. The judge's perplexity of held-out human text of the same length
  is the reference row. A judge rewards text like its own (greedy output scores best while
  being the most repetitive), so the three are read together.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.base import UNITS
from algorithms.weeks.week08.common import (
    BASE_MODEL,
    SIZE_MODELS,
    STORY_PROMPTS,
    encode_prompt,
    eot_of,
    load_model_folder,
)

DECODINGS: dict[str, dict[str, Any]] = {
    "greedy": {"temperature": 0.0},
    "t1": {"temperature": 1.0},
    "t07_topk40": {"temperature": 0.7, "top_k": 40},
    "topp09": {"temperature": 1.0, "top_p": 0.9},
}


class GenerationConfig(ExperimentConfig):
    n_samples: int = 24
    sample_tokens: int = 96
    decodings: list[str] = list(DECODINGS)
    shown_per_setting: int = 2
    """Samples per (model, decoding) in the samples table."""
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_samples": 2, "sample_tokens": 8, "shown_per_setting": 1},
        "gpu": {"n_samples": 128, "sample_tokens": 256}}


@experiment(week=8, name="generation-quality", covers=(1,), config=GenerationConfig,
            units=UNITS, needs=(BASE_MODEL, SIZE_MODELS))
def generation_quality(config: GenerationConfig, tracker: Tracker) -> dict[str, float]:
    """Samples per model size and decoding rule: distinct-n, repetition, judge perplexity."""
    import numpy as np
    import torch

    from algorithms.lm.generate import Sampling, generate, sequence_log_probs
    from algorithms.lm.text_metrics import distinct_n, mean_repetition
    from algorithms.weeks.week08.figures import generation_panels

    models = {"base": load_model_folder(tracker.use_artifact(BASE_MODEL) / "checkpoint")}
    sizes = tracker.use_artifact(SIZE_MODELS)
    for folder in sorted(sizes.iterdir(), key=lambda p: p.name):
        models[folder.name] = load_model_folder(folder / "checkpoint")
    n_params = {key: model.n_params(embeddings=False) for key, (model, _, _) in models.items()}
    # smallest first; among equal sizes the base model, trained longest, comes last: the judge
    order = sorted(models, key=lambda key: (n_params[key], key == "base"))
    judge_key = order[-1]
    judge, _, tokenizer = models[judge_key]
    eot = eot_of(tokenizer)
    device = next(judge.parameters()).device

    def judge_ppl(prompt: list[int], sample: list[int]) -> float:
        if not sample:
            return float("nan")
        ids = torch.tensor([prompt + sample], device=device)
        with torch.no_grad():
            log_probs = sequence_log_probs(judge, ids, start=len(prompt))
        return float(torch.exp(-log_probs.mean()))

    prompts = [encode_prompt(tokenizer, text, eot) for text in ("", *STORY_PROMPTS)]
    metric_rows, sample_rows, summary = [], [], {}
    generator = torch.Generator().manual_seed(config.seed)
    for key in order:
        model, _, model_tokenizer = models[key]
        if model_tokenizer.vocab_size != tokenizer.vocab_size:
            raise InputError(f"model {key} has a {model_tokenizer.vocab_size}-token vocabulary, "
                             f"the judge {tokenizer.vocab_size}: they cannot be compared")
        for name in config.decodings:
            sampling = Sampling(**DECODINGS[name])
            samples, ppls = [], []
            for i in range(config.n_samples):
                prompt = prompts[i % len(prompts)]
                (new,) = generate(model, torch.tensor([prompt], device=device),
                                  config.sample_tokens, sampling, eos_id=eot,
                                  generator=generator)
                samples.append(new)
                ppls.append(judge_ppl(prompt, new))
                if i < config.shown_per_setting:
                    sample_rows.append([key, sampling.label(), tokenizer.decode(prompt[1:]),
                                        tokenizer.decode(new)])
            values = {"distinct_1": distinct_n(samples, 1), "distinct_2": distinct_n(samples, 2),
                      "repetition_4": mean_repetition(samples, 4),
                      "judge_ppl": float(np.nanmean(ppls)) if samples else float("nan"),
                      "mean_tokens": float(np.mean([len(s) for s in samples]))}
            metric_rows.append([key, int(n_params[key]), sampling.label(),
                                *(round(v, 4) for v in values.values())])
            summary.update({f"{key}.{name}.{metric}": round(value, 4)
                            for metric, value in values.items()})

    reference = _human_reference(judge, tokenizer, config, judge_ppl)
    metric_rows.append(["held-out text", "", "(human-written)", "", "", "",
                        round(reference, 4), config.sample_tokens])
    summary["human.judge_ppl"] = round(reference, 4)
    summary["judge.n_params"] = int(n_params[judge_key])
    columns = ["model", "non-embedding params", "decoding", "distinct-1", "distinct-2",
               "repetition-4", f"judge ppl ({judge_key})", "mean tokens"]
    tracker.log_table("generation/metrics", columns, metric_rows)
    tracker.log_table("generation/samples", ["model", "decoding", "prompt", "sample"],
                      sample_rows)
    tracker.log_figure("generation/by_size", generation_panels(metric_rows, reference),
                       f"Judge perplexity (the {judge_key} model's) and distinct-2 of "
                       f"{config.n_samples} samples per model and decoding rule, against "
                       "non-embedding parameters; dotted: the judge on held-out human text.")
    return summary


def _human_reference(judge, tokenizer, config: GenerationConfig, judge_ppl) -> float:
    """The judge's perplexity of held-out TinyStories windows as long as the samples."""
    import numpy as np

    from algorithms.lm.data import corpus_files

    _, val_path = corpus_files("tinystories")
    text = val_path.read_text(encoding="utf-8")[:200_000]
    ids = tokenizer.encode(text)
    rng = np.random.default_rng(config.seed)
    span = config.sample_tokens + 1
    starts = rng.integers(0, max(1, len(ids) - span), size=max(2, config.n_samples // 2))
    return float(np.nanmean([judge_ppl(ids[s:s + 1], ids[s + 1:s + span]) for s in starts]))
