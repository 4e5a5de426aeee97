"""The measuring side of week 3: sweeps over lengths, crossovers, decoding, run context."""

import math

import pytest
import torch

from algorithms.harness import spearman
from algorithms.attention.model import CharCorpus
from algorithms.attention.multihead import MultiHeadAttention
from algorithms.attention.profiling import (
    LengthSweep,
    Measurement,
    crossover_length,
    crossovers,
    device_named,
    intra_op_threads,
    measure_decoding,
)
from algorithms.attention.variants import VARIANTS


def _costs(per_length: dict[int, float]) -> dict[int, Measurement]:
    """Measurements whose fwd+bwd time and memory both equal the given cost."""
    return {n: Measurement(c, c, c, c, 1) for n, c in per_length.items()}


def test_crossover_is_interpolated_on_log_log_axes():
    quadratic = _costs({100: 1.0, 1000: 100.0})
    linear = _costs({100: 10.0, 1000: 10.0})  # equal where 10 = L² / 10⁴, at L = 316
    where, how = crossover_length(linear, quadratic, "forward_backward_ms")
    assert where == pytest.approx(math.sqrt(1e5)) and "interpolated" in how
    assert crossover_length(quadratic, linear, "forward_backward_ms")[0] is None
    cheaper = _costs({100: 0.5, 1000: 5.0})
    assert crossover_length(cheaper, quadratic, "forward_backward_ms")[0] == 100.0


def test_crossovers_pairs_every_candidate_with_each_measured_reference():
    results = {"dense": _costs({100: 1.0, 1000: 100.0}), "flash": _costs({100: 10.0, 1000: 10.0})}
    found = crossovers(results, ["flash"], ["sdpa", "dense"])  # sdpa was not measured
    assert [(c.variant, c.reference, c.quantity) for c in found] == [
        ("flash", "dense", "time"), ("flash", "dense", "memory")]
    assert all(c.length == pytest.approx(math.sqrt(1e5)) for c in found)


def test_length_sweep_stops_a_variant_at_its_limits():
    names = ("sdpa", "dense", "additive")
    sweep = LengthSweep({n: VARIANTS[n] for n in names}, batch=1, heads=2, head_dim=8,
                        max_len=32, device=torch.device("cpu"), budget_s=0.0, max_repeats=1,
                        time_limit_ms=math.inf, length_limits={"additive": 16})
    assert set(sweep.measure_at(16)) == set(names)
    assert set(sweep.measure_at(32)) == {"sdpa", "dense"}
    assert "16" in sweep.stopped["additive"] and set(sweep.stopped) == {"additive"}
    assert set(sweep.results["dense"]) == {16, 32} and set(sweep.results["additive"]) == {16}

    slow = LengthSweep({"dense": VARIANTS["dense"]}, 1, 2, 8, 32, torch.device("cpu"), 0.0, 1,
                       time_limit_ms=0.0)
    assert slow.measure_at(16) and not slow.measure_at(32)
    assert slow.stopped["dense"].startswith("fwd+bwd took")


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_measure_decoding_agrees_with_the_full_forward_and_sizes_the_cache(kv_heads):
    torch.manual_seed(0)
    layer = MultiHeadAttention(32, 4, kv_heads).eval()
    x = torch.randn(1, 20, 32)
    m = measure_decoding(layer, x, context=16, repeats=1)
    assert m.max_abs_diff < 1e-5 and m.cached_ms > 0 and m.recompute_ms > 0
    # K and V: 2 · T · g · d_head float32 numbers
    assert m.cache_mib * 2**20 == 2 * 20 * kv_heads * 8 * 4


def test_intra_op_threads_restores_the_thread_count():
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with intra_op_threads(0):  # 0 leaves PyTorch's setting alone
        assert torch.get_num_threads() == before


def test_auto_device_is_cuda_only_when_there_is_one():
    assert device_named("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert device_named("cpu") == torch.device("cpu")


def test_spearman_ranks_ties_by_their_mean_and_is_zero_without_a_trend():
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    # ranks 1, 2.5, 2.5, 4 against 1, 2, 3, 4: ρ = 4.5 / √(4.5 · 5) = 3 / √10
    assert spearman([64, 256, 1024, 4096], [1.0, 2.0, 2.0, 3.0]) == pytest.approx(3 / 10 ** 0.5)
    assert spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == 0.0  # constant: ρ undefined, no trend


def test_a_corpus_on_a_device_draws_the_same_batches():
    corpus = CharCorpus("to be or not to be, that is the question. " * 20)
    before = corpus.batch("train", 4, 8, torch.Generator().manual_seed(0))
    after = corpus.to("cpu").batch("train", 4, 8, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(before, after))
