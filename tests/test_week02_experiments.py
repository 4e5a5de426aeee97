"""Week 2's registered experiments run end to end on the smoke profile."""

import math
import subprocess
import sys

import pytest

from algorithms.experiment import experiments_for
from recording_tracker import RecordingTracker, week_smoke_runs

EXPERIMENTS = experiments_for(2)


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[dict[str, float], RecordingTracker]]:
    return week_smoke_runs(2)  # one process: the shared tokenizers train once


def test_week_2_registers_its_four_experiments():
    assert set(EXPERIMENTS) == {"merge-strategies", "compression", "vocabulary", "fairness"}
    for exp in EXPERIMENTS.values():
        assert exp.description and exp.config.for_profile("gpu").profile == "gpu"
        assert exp.unit("x.prose.v8000.bytes_per_token") in ("bytes/token", "")


def test_importing_week_2_loads_no_plotting_or_reference_libraries():
    code = ("import sys, algorithms.weeks.week02; print(sorted(m for m in ('matplotlib', 'torch', "
            "'wandb', 'tokenizers', 'sentencepiece') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_summaries_are_flat_floats_and_figures_have_captions(name, runs):
    summary, tracker = runs[name]
    assert summary and all(isinstance(v, float) for v in summary.values())
    assert 10 <= len(summary) <= 200
    assert tracker.figures and all(len(caption) > 80 for caption in tracker.figures.values())
    for key in [*tracker.figures, *tracker.tables, *(k for _, m in tracker.logs for k in m)]:
        section, _, rest = key.partition("/")
        assert section and rest and key == key.lower().replace(" ", "_"), key
    for key in summary:
        assert key == key.lower() and " " not in key, key
    assert len(tracker.logs) < 1000
    assert not set(tracker.tables) & set(tracker.figures)  # a key names one thing
    assert set(tracker.axes.values()) <= {"vocab_size"}  # every series is against |V|


def test_merge_strategies(runs):
    summary, tracker = runs["merge-strategies"]
    config = EXPERIMENTS["merge-strategies"].config.for_profile("smoke")
    top = max(config.vocab_sizes)
    for domain in ("prose", "code", "science"):
        frequency = [summary[f"frequency.{domain}.v{v}.bytes_per_token"]
                     for v in config.vocab_sizes]
        assert frequency == sorted(frequency)  # more merges, longer tokens
        assert frequency[-1] > summary[f"likelihood.{domain}.v{top}.bytes_per_token"]
        assert summary[f"dropout.p0.{domain}.bytes_per_token"] > \
            summary[f"dropout.p05.{domain}.bytes_per_token"] > 1.0
    assert {"merges/compression", "merges/first_merges", "dropout/examples"} <= set(tracker.tables)


def test_compression_forge_bpe_matches_hf_bpe(runs):
    summary, tracker = runs["compression"]
    config = EXPERIMENTS["compression"].config.for_profile("smoke")
    for v in config.vocab_sizes:
        assert summary[f"forge_bpe_vs_hf_bpe.v{v}.ratio"] == pytest.approx(1, abs=0.02)
        assert summary[f"forge_unigram_vs_spm_unigram.v{v}.ratio"] == \
            pytest.approx(1, abs=0.1)
    columns, rows = tracker.tables["compression/by_language"]
    assert {row[columns.index("method")] for row in rows} == set(config.methods)
    assert {row[columns.index("language")] for row in rows} == set(config.languages)
    assert {"compression/bytes_per_token_vs_vocab",
            "compression/bytes_per_token_by_language"} <= set(tracker.figures)


def test_vocabulary_metrics_are_in_range(runs):
    summary, _ = runs["vocabulary"]
    config = EXPERIMENTS["vocabulary"].config.for_profile("smoke")
    for v in config.vocab_sizes:
        assert summary[f"forge_bpe.v{v}.unk_rate"] == 0.0  # bytes cover everything
        assert summary[f"forge_unigram.v{v}.unk_rate"] > 0.0  # a capped alphabet does not
        for method in config.methods:
            assert 0 < summary[f"{method}.v{v}.used_share"] <= 1
            assert 0 < summary[f"{method}.v{v}.renyi_efficiency"] < 1
            assert 0 < summary[f"{method}.v{v}.bits_per_byte"] < 8
    assert all(math.isfinite(value) for value in summary.values())


def test_fairness_premiums(runs):
    summary, tracker = runs["fairness"]
    config = EXPERIMENTS["fairness"].config.for_profile("smoke")
    others = [code for code in config.languages if code != "eng"]
    assert {f"{code}.premium" for code in others} <= set(summary)
    # an English-only vocabulary makes every other language dearer
    assert summary["forge_bpe.english.mean_premium"] > \
        summary["forge_bpe.multilingual.mean_premium"] > 1.0
    assert summary["english_mix.hin.premium"] > summary["hin.premium"]
    columns, rows = tracker.tables["fairness/udhr_premium"]
    english = [row for row in rows if row[columns.index("language")] == "eng"]
    assert all(row[columns.index("premium")] == 1.0 for row in english)
