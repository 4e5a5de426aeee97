"""The known-probability source (algorithms.lm.synthetic) and exposure bias measured against it
(algorithms.lm.exposure)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from algorithms.lm.exposure import ExposureCurves, exposure_bias, kl_divergence
from algorithms.lm.synthetic import MarkovSource

# ----------------------------------------------------------------------------- the source


@pytest.mark.parametrize("order", [1, 2])
def test_random_rows_and_initial_are_distributions(order):
    source = MarkovSource.random(5, order=order, concentration=0.3, seed=1)
    assert source.transitions.shape == (5**order, 5)
    np.testing.assert_allclose(source.transitions.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(source.initial.sum(), 1.0, atol=1e-12)
    # initial is stationary: one step of the context chain leaves it unchanged
    np.testing.assert_allclose(source._step(source.initial), source.initial, atol=1e-10)


def test_random_is_seeded():
    a, b = MarkovSource.random(6, seed=3), MarkovSource.random(6, seed=3)
    np.testing.assert_array_equal(a.transitions, b.transitions)
    assert not np.array_equal(a.transitions, MarkovSource.random(6, seed=4).transitions)


def test_sample_transition_frequencies_match_the_chain():
    source = MarkovSource.random(3, concentration=1.0, seed=0)
    seqs = source.sample(400, 100, np.random.default_rng(0))
    assert seqs.shape == (400, 100) and seqs.dtype == np.int64
    counts = np.zeros((3, 3))
    np.add.at(counts, (seqs[:, :-1].ravel(), seqs[:, 1:].ravel()), 1)
    frequencies = counts / counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(frequencies, source.transitions, atol=0.02)
    # the first token is drawn from the stationary distribution
    first = np.bincount(seqs[:, 0], minlength=3) / 400
    np.testing.assert_allclose(first, source.initial, atol=0.08)


def test_sample_is_reproducible_and_checks_length():
    source = MarkovSource.random(4, order=2, seed=0)
    a = source.sample(3, 10, np.random.default_rng(5))
    np.testing.assert_array_equal(a, source.sample(3, 10, np.random.default_rng(5)))
    with pytest.raises(ValueError):
        source.sample(3, 1, np.random.default_rng(0))


@pytest.mark.parametrize("order", [1, 2])
def test_log_prob_matches_a_hand_loop(order):
    V = 4
    source = MarkovSource.random(V, order=order, concentration=0.5, seed=2)
    seqs = source.sample(5, 12, np.random.default_rng(1))
    expected = np.zeros((5, 12 - order))
    for i, seq in enumerate(seqs):
        for t in range(order, 12):
            context = 0
            for token in seq[t - order:t]:  # base-V number, oldest token most significant
                context = context * V + token
            expected[i, t - order] = math.log(source.transitions[context, seq[t]])
    np.testing.assert_allclose(source.log_prob(seqs), expected, rtol=1e-12)


def test_entropy_rate_of_uniform_and_deterministic_chains():
    V = 5
    uniform = MarkovSource.from_transitions(np.full((V, V), 1 / V))
    assert uniform.entropy_rate() == pytest.approx(math.log(V), rel=1e-12)
    cycle = MarkovSource.from_transitions(np.roll(np.eye(V), 1, axis=1))  # 0→1→…→4→0
    assert cycle.entropy_rate() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(cycle.initial, 1 / V, atol=1e-9)  # periodic, still stationary
    uniform2 = MarkovSource.from_transitions(np.full((V * V, V), 1 / V), order=2)
    assert uniform2.entropy_rate() == pytest.approx(math.log(V), rel=1e-12)


def test_entropy_rate_matches_the_sample_mean_log_prob():
    source = MarkovSource.random(6, order=2, concentration=0.2, seed=4)
    nll = -source.log_prob(source.sample(300, 60, np.random.default_rng(2))).mean()
    assert nll == pytest.approx(source.entropy_rate(), rel=0.05)


@pytest.mark.parametrize("order", [1, 2])
def test_next_log_probs_agrees_with_next_distribution(order):
    source = MarkovSource.random(5, order=order, seed=0)
    prefixes = source.sample(7, 6, np.random.default_rng(0))
    p = source.next_distribution(prefixes)
    assert p.shape == (7, 5)
    log_q = source.next_log_probs(torch.from_numpy(prefixes))
    assert isinstance(log_q, torch.Tensor) and log_q.shape == (7, 5)
    np.testing.assert_allclose(log_q.exp().numpy(), p, rtol=1e-12)
    # order 2: the distribution depends on the last two tokens, exactly as in log_prob
    full = np.concatenate([prefixes, np.zeros((7, 1), dtype=np.int64)], axis=1)
    np.testing.assert_allclose(np.log(p[:, 0]), source.log_prob(full)[:, -1], rtol=1e-12)


def test_bad_tables_raise():
    with pytest.raises(ValueError):
        MarkovSource(3, 1, np.full((3, 3), 0.5), np.full(3, 1 / 3))
    with pytest.raises(ValueError):
        MarkovSource(3, 2, np.full((3, 3), 1 / 3), np.full(3, 1 / 3))


# ----------------------------------------------------------------------------- exposure bias


def test_kl_divergence_is_exact_with_zero_terms():
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([[0.25, 0.25, 0.5], [0.5, 0.5, 0.0]])
    with np.errstate(divide="ignore"):
        kl = kl_divergence(p, np.log(q))
    np.testing.assert_allclose(kl, [math.log(2), math.log(2)])
    with np.errstate(divide="ignore"):
        assert kl_divergence(q[:1], np.log(p[:1]))[0] == np.inf  # q > 0 where p = 0


def test_the_source_as_its_own_model_has_no_exposure_bias():
    source = MarkovSource.random(8, order=2, concentration=0.3, seed=0)
    curves = exposure_bias(source.next_log_probs, source, n_sequences=200, length=20,
                           prompt_len=3, seed=0)
    assert isinstance(curves, ExposureCurves)
    np.testing.assert_array_equal(curves.positions, np.arange(1, 21))
    np.testing.assert_allclose(curves.kl_teacher_forced, 0.0, atol=1e-12)
    np.testing.assert_allclose(curves.kl_free_running, 0.0, atol=1e-12)
    summary = curves.summary()
    assert summary["true_nll_fr_mean"] == pytest.approx(source.entropy_rate(), rel=0.1)
    assert summary["nll_tf_mean"] == pytest.approx(source.entropy_rate(), rel=0.1)
    assert summary["entropy_rate"] == source.entropy_rate()
    assert math.isnan(summary["kl_ratio_last"])  # 0 / 0: nothing to compare


def rare_state_pair() -> tuple[MarkovSource, MarkovSource]:
    """States 0-3 are common, 4-5 rare: the source enters them with probability 0.01 and
    leaves them with probability 0.98. The model is nearly exact on the common rows but puts 0.1
    on entering the rare states, and its rare rows are badly wrong: they mostly stay there."""
    common, rare = [0, 1, 2, 3], [4, 5]
    p = np.zeros((6, 6))
    p[np.ix_(common, common)] = 0.99 / 4
    p[np.ix_(common, rare)] = 0.01 / 2
    p[np.ix_(rare, common)] = 0.98 / 4
    p[np.ix_(rare, rare)] = 0.02 / 2
    q = p.copy()
    q[np.ix_(common, common)] = 0.90 / 4
    q[np.ix_(common, rare)] = 0.10 / 2
    q[np.ix_(rare, common)] = 0.02 / 4
    q[np.ix_(rare, rare)] = 0.98 / 2
    return MarkovSource.from_transitions(p), MarkovSource.from_transitions(q)


def test_a_model_wrong_off_distribution_drifts_when_free_running():
    source, model = rare_state_pair()
    curves = exposure_bias(model.next_log_probs, source, n_sequences=300, length=30,
                           prompt_len=2, seed=1)
    summary = curves.summary()
    assert summary["kl_fr_mean"] > 5 * summary["kl_tf_mean"]
    assert summary["kl_ratio_last"] > 5
    assert summary["kl_fr_slope"] > 0  # the share of sequences stuck in rare states grows
    assert summary["true_nll_fr_mean"] > source.entropy_rate()
    # teacher-forced NLL = entropy + KL, up to sampling noise
    assert summary["nll_tf_mean"] > source.entropy_rate()
    for name in ("kl_teacher_forced", "kl_free_running", "nll_teacher_forced",
                 "true_nll_free_running"):
        ci = getattr(curves, f"{name}_ci")
        assert ci.shape == (30,) and np.isfinite(ci).all() and (ci >= 0).all()
    assert all(np.isfinite(v) for v in summary.values())


def test_exposure_is_reproducible_and_uses_temperature():
    source, model = rare_state_pair()
    run = lambda seed, temperature=1.0: exposure_bias(  # noqa: E731
        model.next_log_probs, source, 50, 8, 1, seed, temperature)
    np.testing.assert_array_equal(run(3).kl_free_running, run(3).kl_free_running)
    # a cold model stays where its modes are; its teacher-forced curves do not change
    cold, warm = run(3, 0.3), run(3)
    np.testing.assert_array_equal(cold.kl_teacher_forced, warm.kl_teacher_forced)
    assert not np.array_equal(cold.kl_free_running, warm.kl_free_running)


def test_a_float32_model_callable_works():
    source = MarkovSource.random(5, seed=0)
    model = lambda idx: source.next_log_probs(idx).float()  # noqa: E731
    curves = exposure_bias(model, source, 10, 4, 1, seed=0)
    np.testing.assert_allclose(curves.kl_free_running, 0.0, atol=1e-6)


def test_exposure_rejects_mismatched_vocab_and_short_prompts():
    source, other = MarkovSource.random(5, seed=0), MarkovSource.random(6, seed=0)
    with pytest.raises(ValueError, match="vocab"):
        exposure_bias(other.next_log_probs, source, 4, 3, 1, seed=0)
    order2 = MarkovSource.random(5, order=2, seed=0)
    with pytest.raises(ValueError):
        exposure_bias(order2.next_log_probs, order2, 4, 3, prompt_len=1, seed=0)
    with pytest.raises(ValueError):
        exposure_bias(source.next_log_probs, source, 1, 3, 1, seed=0)
