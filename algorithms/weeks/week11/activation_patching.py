"""``activation-patching``: where week 8's base model carries a character's gender from its
introduction to the pronoun that refers to it.

Behaviour: after "Once upon a time, there was a little boy named Tom. One day," the model
prefers " he" to " she"; after the same text with "girl named Lily" it prefers " she". The
score is the logit difference LD = logit(" he") − logit(" she") at the last position. Clean
runs are the boy versions, corrupt runs the girl versions (the noun and the name swapped, one
token each, so positions line up), for every pair of ``names`` and every template.

Activation patching (:func:`algorithms.interpretability.hooks.patching_effects`; Meng et al.
2022, Wang et al. 2022): the corrupt run with the residual stream at one (site, position) set
to its clean value; the recovered fraction (LD_patched − LD_corrupt) / (LD_clean − LD_corrupt)
is 1 where that one vector carries everything the clean run needed, 0 where it carries
nothing. Sites are the embeddings and each block's output. Averaged over the name pairs, per
template; the summary gives, per site, the recovery at the noun, the name and the last
position of the first template.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, InputError, Tracker, experiment
from algorithms.weeks.week08.common import BASE_MODEL


class PatchingConfig(ExperimentConfig):
    """Templates with ``{noun}`` and ``{name}`` (each once, noun first), (boy, girl) name
    pairs, the nouns and the pronouns the logit difference compares."""

    templates: list[str] = [
        "Once upon a time, there was a little {noun} named {name}. One day,",
        "Once upon a time, there was a little {noun} named {name}. {name} liked to play. "
        "One day,"]
    names: list[tuple[str, str]] = [("Tom", "Lily"), ("Ben", "Mia"), ("Tim", "Anna"),
                                    ("Max", "Sara"), ("Sam", "Lily"), ("Jack", "Mia")]
    nouns: tuple[str, str] = ("boy", "girl")
    pronouns: tuple[str, str] = ("he", "she")
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        # the smoke model's 300-token vocabulary splits the real words: one-token stand-ins
        # that only exercise the code
        "smoke": {"names": [("to", "and")], "nouns": ("a", "the"), "pronouns": ("he", "was"),
                  "templates": ["Once upon a time, there was {noun} {name}. One day,"]},
        "gpu": {}}


def single_token(tokenizer: Any, word: str) -> int:
    ids = tokenizer.encode(f" {word}")
    if len(ids) != 1:
        raise InputError(f"' {word}' is {len(ids)} tokens for the base model's tokenizer; "
                         "patching needs one-token names, nouns and pronouns")
    return ids[0]


@experiment(week=11, name="activation-patching", covers=(3,), config=PatchingConfig,
            units={"*logit_diff": "logit difference", "*recovery": "fraction recovered"},
            needs=(BASE_MODEL,), seeded=False)
def activation_patching(config: PatchingConfig, tracker: Tracker) -> dict[str, float]:
    """Activation patching of the residual stream, boy → girl prompts: which (site, position)
    carries the gender that decides " he" against " she"."""
    import torch

    from algorithms.interpretability.hooks import patching_effects
    from algorithms.weeks.week08.common import encode_prompt, eot_of, load_model_artifact
    from algorithms.weeks.week11 import figures

    model, _, tokenizer = load_model_artifact(tracker, BASE_MODEL)
    model = model.cpu().float()
    eot = eot_of(tokenizer)
    he, she = (single_token(tokenizer, p) for p in config.pronouns)
    for word in {*config.nouns, *(n for pair in config.names for n in pair)}:
        single_token(tokenizer, word)
    for template in config.templates:
        if template.count("{noun}") != 1 or "{name}" not in template or \
                template.index("{noun}") > template.index("{name}"):
            raise InputError(f"template {template!r}: needs {{noun}} once, before {{name}}")

    def metric(logits: Any) -> Any:
        return logits[:, he] - logits[:, she]

    summary: dict[str, float] = {}
    n_sites = len(model.model.layers) + 1
    site_names = ["embeddings", *(f"block {i}" for i in range(n_sites - 1))]
    for t, template in enumerate(config.templates):
        def rows(noun: str, index: int) -> Any:
            return torch.tensor([encode_prompt(tokenizer, template.format(
                noun=noun, name=pair[index]), eot) for pair in config.names])

        clean, corrupt = rows(config.nouns[0], 0), rows(config.nouns[1], 1)
        if clean.shape != corrupt.shape:
            raise InputError(f"template {template!r}: its boy and girl prompts differ in length")
        clean_ld, corrupt_ld, patched = patching_effects(model, clean, corrupt, metric)
        recovery = (patched - corrupt_ld) / (clean_ld - corrupt_ld)
        labels = [tokenizer.decode([int(i)]) if int(i) != eot else "⟨eot⟩" for i in clean[0]]
        differ = (clean != corrupt).any(dim=0).nonzero().flatten().tolist()
        key = f"template{t}"
        summary[f"{key}.clean_logit_diff"] = float(clean_ld)
        summary[f"{key}.corrupt_logit_diff"] = float(corrupt_ld)
        positions = {"noun": differ[0], "name": differ[1], "last": clean.shape[1] - 1}
        for s in range(n_sites):
            site = "embeddings" if s == 0 else f"block{s - 1}"
            for where, p in positions.items():
                summary[f"{key}.{site}.{where}_recovery"] = float(recovery[s, p])
        tracker.log_table(f"patching/{key}_recovery", ["site", *(
            f"{i}:{label.strip() or '␣'}" for i, label in enumerate(labels))],
            [[site_names[s], *(round(float(v), 3) for v in recovery[s])]
             for s in range(n_sites)])
        tracker.log_figure(
            f"patching/{key}_heatmap", figures.patching_heatmap(
                recovery.numpy(), labels, site_names),
            f"Activation patching, template {t + 1}: the fraction of the clean logit difference "
            f"logit(' {config.pronouns[0]}') − logit(' {config.pronouns[1]}') recovered when "
            "the residual stream at one site (rows) and one position (columns) of a girl-"
            "prompt run is set to its value in the boy-prompt run; mean over "
            f"{len(config.names)} name pairs (clean LD {float(clean_ld):.2f}, corrupt "
            f"{float(corrupt_ld):.2f}).")
    summary["names.pairs"] = float(len(config.names))
    return summary
