"""Preference models (week 9): Bradley-Terry and Plackett-Luce maximum likelihood checked against
choix on the same data, Elo's update by hand and its dependence on the order of the games next
to Bradley-Terry's invariance, synthetic annotators, agreement and length bias."""

from __future__ import annotations

import itertools
import math

import choix
import numpy as np
import pytest

from algorithms.preference import (agreement_rate, annotate, cohen_kappa, elo_ratings,
                                   elo_to_bradley_terry, expected_score, fit_bradley_terry,
                                   fit_plackett_luce, fleiss_kappa, length_bias,
                                   order_dependence, pairwise_log_likelihood,
                                   ranking_log_likelihood, ranking_probability,
                                   sample_comparisons, sample_rankings, win_matrix,
                                   win_probability)

N = 8


def strengths(n: int = N, seed: int = 0) -> np.ndarray:
    theta = np.random.default_rng(seed).normal(size=n)
    return theta - theta.mean()


@pytest.fixture(scope="module")
def comparisons() -> np.ndarray:
    return sample_comparisons(strengths(), 400, np.random.default_rng(1))


@pytest.fixture(scope="module")
def rankings() -> np.ndarray:
    return sample_rankings(strengths(), 300, 4, np.random.default_rng(2))


# ----------------------------------------------------------------------------- Bradley-Terry

def test_bradley_terry_mle_equals_choix(comparisons):
    ours = fit_bradley_terry(N, comparisons)
    assert abs(ours.mean()) < 1e-12
    data = comparisons.tolist()
    # choix's spectral and MM estimates (alpha = 0 is the plain MLE there), centred like ours
    assert np.allclose(ours, choix.ilsr_pairwise(N, data, tol=1e-12), atol=1e-8)
    assert np.allclose(ours, choix.mm_pairwise(N, data, tol=1e-12, max_iter=100_000), atol=1e-8)


@pytest.mark.parametrize("alpha", [0.1, 2.0])
def test_bradley_terry_penalised_equals_choix_opt_pairwise(comparisons, alpha):
    # the same objective: −ℓ(θ) + α Σθ², whose minimiser is centred already
    theirs = choix.opt_pairwise(N, comparisons.tolist(), alpha=alpha, tol=1e-12)
    assert abs(theirs.mean()) < 1e-8
    assert np.allclose(fit_bradley_terry(N, comparisons, alpha=alpha), theirs, atol=1e-8)


def test_bradley_terry_likelihood_and_probability_equal_choix(comparisons):
    theta = strengths()
    assert math.isclose(pairwise_log_likelihood(theta, comparisons),
                        choix.log_likelihood_pairwise(comparisons.tolist(), theta), rel_tol=1e-12)
    assert math.isclose(float(win_probability(theta, 2, 5)),
                        float(choix.probabilities([2, 5], theta)[0]), rel_tol=1e-12)
    assert float(win_probability([0.0, math.log(3.0)], 1, 0)) == pytest.approx(0.75)


def test_bradley_terry_recovers_known_strengths():
    theta = strengths(10, seed=3)
    comps = sample_comparisons(theta, 20_000, np.random.default_rng(4))
    assert np.abs(fit_bradley_terry(10, comps) - theta).max() < 0.15


def test_the_mle_needs_a_strongly_connected_graph():
    never_loses = [(0, 1), (0, 2), (1, 2), (2, 1)]
    with pytest.raises(ValueError, match="strongly connected"):
        fit_bradley_terry(3, never_loses)
    theta = fit_bradley_terry(3, never_loses, alpha=0.1)  # the penalty makes it exist
    assert np.all(np.isfinite(theta)) and theta[0] > theta[1] == pytest.approx(theta[2])


def test_win_matrix_counts_wins():
    w = win_matrix(3, [(0, 1), (0, 1), (2, 0)])
    assert w.tolist() == [[0, 2, 0], [0, 0, 0], [1, 0, 0]]


# ----------------------------------------------------------------------------- Plackett-Luce

def test_plackett_luce_mle_equals_choix(rankings):
    ours = fit_plackett_luce(N, rankings)
    assert np.allclose(ours, choix.ilsr_rankings(N, rankings.tolist(), tol=1e-12), atol=1e-8)
    theirs = choix.opt_rankings(N, rankings.tolist(), alpha=0.5, tol=1e-12)
    assert np.allclose(fit_plackett_luce(N, rankings, alpha=0.5), theirs, atol=1e-8)
    assert math.isclose(ranking_log_likelihood(ours, rankings),
                        choix.log_likelihood_rankings(rankings.tolist(), ours), rel_tol=1e-12)


@pytest.mark.parametrize("top_k", [1, 2])
def test_top_k_plackett_luce_equals_choix_top1(rankings, top_k):
    # a top-k ranking is k Luce choices, each from the items not yet placed
    top1 = [(int(r[k]), r[k + 1:].tolist()) for r in rankings for k in range(top_k)]
    assert np.allclose(fit_plackett_luce(N, rankings, top_k=top_k),
                       choix.ilsr_top1(N, top1, tol=1e-12), atol=1e-8)


def test_a_ranking_probability_by_hand():
    theta = np.log([1.0, 2.0, 3.0])
    assert ranking_probability(theta, [2, 1, 0]) == pytest.approx(3 / 6 * 2 / 3)
    assert ranking_probability(theta, [2, 1, 0], top_k=1) == pytest.approx(3 / 6)
    total = sum(ranking_probability(theta, list(r)) for r in itertools.permutations(range(3)))
    assert total == pytest.approx(1.0)


def test_bradley_terry_is_plackett_luce_with_lists_of_two(comparisons):
    pl = fit_plackett_luce(N, comparisons)
    assert np.allclose(pl, fit_bradley_terry(N, comparisons), atol=1e-10)
    assert math.isclose(ranking_log_likelihood(pl, comparisons),
                        pairwise_log_likelihood(pl, comparisons), rel_tol=1e-12)


def test_plackett_luce_recovers_known_strengths():
    theta = strengths(10, seed=5)
    ranks = sample_rankings(theta, 5_000, 5, np.random.default_rng(6))
    assert np.abs(fit_plackett_luce(10, ranks) - theta).max() < 0.15


# ----------------------------------------------------------------------------- Elo

def test_elo_expected_score():
    assert float(expected_score(1500, 1500)) == 0.5
    assert float(expected_score(1600, 1400)) == pytest.approx(1 / (1 + 10 ** -0.5))
    assert float(expected_score(1800, 1400)) == pytest.approx(10 / 11)  # 400 points: 10 to 1
    assert float(expected_score(1234, 1567) + expected_score(1567, 1234)) == pytest.approx(1.0)


def test_elo_updates_by_hand():
    # 0 beats 1 from 1500 each: E = 1/2, both move by K/2 = 16
    assert elo_ratings(2, [(0, 1)], k=32).tolist() == [1516.0, 1484.0]
    # then 1 beats 0: E_1 = 1/(1 + 10^(32/400)) = 0.454078, so 1 gains 32 (1 − 0.454078)
    r = elo_ratings(2, [(0, 1), (1, 0)], k=32)
    assert r == pytest.approx([1498.53050, 1501.46950], abs=1e-4)
    assert elo_ratings(2, [(0, 1)], k=32, scores=[0.5]).tolist() == [1500.0, 1500.0]  # a draw


def test_elo_on_the_bradley_terry_scale():
    ratings = np.array([1400.0, 1550.0, 1720.0])
    theta = elo_to_bradley_terry(ratings)
    assert abs(theta.mean()) < 1e-12
    assert float(win_probability(theta, 2, 0)) == pytest.approx(float(expected_score(1720, 1400)))


def test_elo_depends_on_the_order_and_bradley_terry_does_not(comparisons):
    od = order_dependence(N, comparisons, np.random.default_rng(7), n_orders=30, k=32.0)
    assert od.bt_max_deviation == 0.0 and all(np.array_equal(row, od.bt[0]) for row in od.bt)
    assert np.allclose(od.bt[0], fit_bradley_terry(N, comparisons), atol=0)
    assert od.elo.shape == (30, N) and np.all(od.elo_std > 1.0)  # rating points
    assert 0.0 < od.elo_rank_correlation < 1.0
    assert np.array_equal(od.elo[0], elo_ratings(N, comparisons, k=32.0))  # the given order first
    # Elo points sum to N · 1500 whatever the order (every update moves ±K(S − E))
    assert np.allclose(od.elo.sum(axis=1), N * 1500.0)


# ----------------------------------------------------------------------------- annotators

def gold_pairs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=n), rng.normal(size=n), rng.integers(50, 400, size=n),
            rng.integers(50, 400, size=n))


def test_noiseless_cold_annotators_follow_the_gold_ordering():
    r_a, r_b, _, _ = gold_pairs(2000, 0)
    out = annotate(r_a, r_b, np.random.default_rng(1), temperature=1e-6)
    assert np.array_equal(out.labels, (r_a > r_b).astype(np.int8)) and not out.flipped.any()
    assert np.array_equal(out.prob, (r_a > r_b).astype(float))


def test_flips_are_the_labels_that_disagree_with_the_gold_ordering():
    r_a, r_b, _, _ = gold_pairs(4000, 0)
    out = annotate(r_a, r_b, np.random.default_rng(2), temperature=1e-6, flip_rate=0.2)
    assert np.array_equal(out.labels.astype(bool), (r_a > r_b) ^ out.flipped)
    assert out.flipped.mean() == pytest.approx(0.2, abs=0.02)
    assert np.allclose(out.prob, np.where(r_a > r_b, 0.8, 0.2))


def test_the_bias_knobs_move_the_measured_biases():
    r_a, r_b, n_a, n_b = gold_pairs(6000, 3)
    fits = {}
    for beta in (-1.0, 0.0, 1.0):
        out = annotate(r_a, r_b, np.random.default_rng(4), length_a=n_a, length_b=n_b,
                       length_bias=beta, position_bias=0.5)
        fits[beta] = length_bias(out.labels, n_a, n_b, r_a, r_b)
        # with the rewards as a covariate and no flips, eq. (3) is the annotator's own model
        assert fits[beta].coefficient == pytest.approx(beta, abs=0.15)
        assert fits[beta].intercept == pytest.approx(0.5, abs=0.15)
        assert fits[beta].reward_coefficient == pytest.approx(1.0, abs=0.15)
    assert fits[-1.0].longer_win_rate < 0.45 < fits[0.0].longer_win_rate < 0.55 < \
        fits[1.0].longer_win_rate
    # flips shrink the measured bias toward 0; without rewards it is still positive
    noisy = annotate(r_a, r_b, np.random.default_rng(4), length_a=n_a, length_b=n_b,
                     length_bias=1.0, flip_rate=0.3)
    assert 0.0 < length_bias(noisy.labels, n_a, n_b).coefficient < fits[1.0].coefficient


def test_cohen_kappa_textbook_example():
    # 50 proposals, two readers: 20 yes-yes, 5 yes-no, 10 no-yes, 15 no-no; p_o = 0.7,
    # p_e = 0.5·0.6 + 0.5·0.4 = 0.5, κ = 0.4 (the worked example of Wikipedia's "Cohen's kappa")
    a = np.array([1] * 25 + [0] * 25)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    assert agreement_rate(a, b) == pytest.approx(0.7)
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == 1.0 and math.isnan(cohen_kappa([1, 1], [1, 1]))


def test_fleiss_kappa_textbook_example():
    # 10 subjects, 14 raters, 5 categories: P̄ = 0.378, P̄_e = 0.213, κ = 0.210 (the worked
    # example of Wikipedia's "Fleiss' kappa")
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
              [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
              [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    labels = np.stack([np.repeat(np.arange(5), row) for row in counts])
    assert fleiss_kappa(labels) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_kappa(np.stack([labels[:, 0]] * 3, axis=1)) == 1.0


def test_agreement_falls_with_label_noise():
    r_a, r_b, _, _ = gold_pairs(4000, 5)
    kappa = {}
    for flip in (0.0, 0.3):
        first, second = (annotate(r_a, r_b, np.random.default_rng(s), flip_rate=flip).labels
                         for s in (10, 11))
        kappa[flip] = cohen_kappa(first, second)
    assert kappa[0.0] > kappa[0.3] > 0.0
    many = np.stack([annotate(r_a, r_b, np.random.default_rng(s), temperature=1e-6).labels
                     for s in range(4)], axis=1)
    assert fleiss_kappa(many) == 1.0


# ----------------------------------------------------------------------------- bad input

def one_line_value_error(fn, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_bad_input_is_one_line_value_error():
    rng = np.random.default_rng(0)
    assert "no comparisons" in one_line_value_error(fit_bradley_terry, 3, [])
    assert "out of range" in one_line_value_error(fit_bradley_terry, 3, [(0, 3)])
    assert "out of range" in one_line_value_error(fit_bradley_terry, 3, [(-1, 0)])
    assert "itself" in one_line_value_error(fit_bradley_terry, 3, [(1, 1)])
    assert "alpha" in one_line_value_error(fit_bradley_terry, 3, [(0, 1)], alpha=-1.0)
    assert "K must" in one_line_value_error(elo_ratings, 2, [(0, 1)], k=0.0)
    assert "K must" in one_line_value_error(elo_ratings, 2, [(0, 1)], k=-5.0)
    assert "out of range" in one_line_value_error(elo_ratings, 2, [(0, 2)])
    assert "no comparisons" in one_line_value_error(elo_ratings, 2, [])
    assert "K must" in one_line_value_error(order_dependence, 2, [(0, 1)], rng, k=0.0)
    assert "no rankings" in one_line_value_error(fit_plackett_luce, 3, [])
    assert "out of range" in one_line_value_error(fit_plackett_luce, 3, [[0, 1, 5]])
    assert "twice" in one_line_value_error(fit_plackett_luce, 3, [[0, 1, 0]])
    assert "top_k" in one_line_value_error(fit_plackett_luce, 3, [[0, 1, 2]], top_k=0)
    assert "temperature" in one_line_value_error(annotate, [0.0], [1.0], rng, temperature=0.0)
    assert "flip_rate" in one_line_value_error(annotate, [0.0], [1.0], rng, flip_rate=1.5)
    assert "length_a" in one_line_value_error(annotate, [0.0], [1.0], rng, length_bias=1.0)
    assert "length" in one_line_value_error(length_bias, [0, 1], [5, 5], [5, 5])
    assert "separate" in one_line_value_error(length_bias, [1, 0, 1, 0], [1, 2, 3, 4],
                                              [0, 0, 0, 0], [1, -1, 1, -1], [0, 0, 0, 0])


def test_the_gold_reward_is_vaders_normalised_lexicon_valence():
    from pathlib import Path

    import vaderSentiment

    from algorithms.preference import gold_reward

    lexicon = dict(line.split("\t")[:2] for line in
                   (Path(vaderSentiment.__file__).parent / "vader_lexicon.txt")
                   .read_text(encoding="utf-8").splitlines() if line.strip())
    valence = float(lexicon["good"])
    # one rated word and no rule applies: compound = s / sqrt(s² + 15)
    assert gold_reward(["good"])[0] == pytest.approx(valence / np.sqrt(valence ** 2 + 15),
                                                    abs=1e-4)
    happy, sad, plain = gold_reward(["The dog was happy and loved the park.",
                                     "Tom was sad and angry.", "The box is on the table."])
    assert happy > 0.5 and sad < -0.5 and plain == 0.0
