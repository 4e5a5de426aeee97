"""DPO, IPO, SimPO, KTO, ORPO, GRPO and best-of-n: closed forms on hand-made numbers, the
gradients' directions, IPO's fixed point against DPO's unbounded margin, KTO's reference point,
GRPO's advantages, k3 and normalisations, best-of-n's KL; then TRL's code on the same numbers."""

from __future__ import annotations

import decimal
import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from algorithms.policy.core import approx_kl
from algorithms.preference.best_of_n import best_of_n, best_of_n_distribution, best_of_n_kl
from algorithms.preference.grpo import LOSS_TYPES, group_advantages, grpo_loss, k3_kl
from algorithms.preference.losses import (dpo_loss, ipo_loss, kto_loss, kto_mismatched_index,
                                          kto_reference_point, log1mexp, orpo_loss, simpo_loss)

D = torch.float64


def t(*values):
    return torch.tensor(values, dtype=D)


def softplus(x):  # −log σ(x) = log(1 + e^{−x})
    return math.log1p(math.exp(-x))


# ----------------------------------------------------------------------------- closed forms

def test_dpo_on_hand_made_numbers():
    # log-ratios +1 (chosen) and −1 (rejected): h = 2, β h = 1
    loss, stats = dpo_loss(t(-1.0), t(-4.0), t(-2.0), t(-3.0), beta=0.5)
    assert loss.item() == pytest.approx(softplus(1.0), abs=1e-12)
    assert stats.chosen_rewards.item() == 0.5 and stats.rejected_rewards.item() == -0.5
    assert stats.margins.item() == 1.0 and stats.accuracy.item() == 1.0
    smooth, _ = dpo_loss(t(-1.0), t(-4.0), t(-2.0), t(-3.0), beta=0.5, label_smoothing=0.1)
    assert smooth.item() == pytest.approx(0.9 * softplus(1.0) + 0.1 * softplus(-1.0), abs=1e-12)
    assert stats.metrics() == {"rewards/chosen": 0.5, "rewards/rejected": -0.5,
                               "rewards/margin": 1.0, "rewards/accuracy": 1.0}


def test_ipo_on_hand_made_numbers():
    loss, _ = ipo_loss(t(-1.0, -1.0), t(-4.0, -3.0), t(-2.0, -2.0), t(-3.0, -3.0), beta=0.5)
    # h = 2 and h = 1; 1/(2β) = 1: losses (2 − 1)² = 1 and 0
    assert loss.item() == pytest.approx(0.5, abs=1e-12)


def test_simpo_on_hand_made_numbers():
    loss, stats = simpo_loss(t(-4.0), t(-9.0), t(4.0), t(3.0), beta=2.0, gamma=0.5)
    # β/|y_w| log π(y_w) = 2·(−1) = −2, β/|y_l| log π(y_l) = 2·(−3) = −6: logit −2 + 6 − 0.5
    assert loss.item() == pytest.approx(softplus(3.5), abs=1e-12)
    assert stats.chosen_rewards.item() == -2.0 and stats.rejected_rewards.item() == -6.0


def test_kto_on_hand_made_numbers():
    policy, reference = t(-1.0, -2.0, -3.0), t(-2.0, -2.0, -1.0)  # r = 1, 0, −2
    desirable = torch.tensor([True, False, False])
    kl_policy, kl_reference = t(-5.0, -5.0, -5.0), t(-5.5, -5.5, -5.5)  # z₀ = 0.5
    loss, stats = kto_loss(policy, reference, desirable, kl_policy, kl_reference, beta=2.0,
                           desirable_weight=1.5, undesirable_weight=1.0)
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    expected = [1.5 - 1.5 * sig(2.0 * (1.0 - 0.5)),   # desirable: λ_D − λ_D σ(β(r − z₀))
                1.0 - sig(2.0 * (0.5 - 0.0)),         # undesirable: λ_U − λ_U σ(β(z₀ − r))
                1.0 - sig(2.0 * (0.5 + 2.0))]
    assert loss.item() == pytest.approx(sum(expected) / 3, abs=1e-12)
    assert stats.kl.item() == 0.5
    assert stats.metrics() == pytest.approx({"rewards/chosen": 2.0, "rewards/rejected": -2.0,
                                             "kl": 0.5})


def test_orpo_on_hand_made_numbers():
    # P(y_w) = 0.8: odds 4; P(y_l) = 0.5: odds 1. L_OR = −log σ(log 4) = log(5/4)
    loss, stats = orpo_loss(t(math.log(0.8)), t(math.log(0.5)), t(1.25), lam=0.2)
    assert loss.item() == pytest.approx(1.25 + 0.2 * math.log(1.25), abs=1e-12)
    assert stats.chosen_rewards.item() == pytest.approx(math.log(4.0), abs=1e-12)
    assert stats.rejected_rewards.item() == pytest.approx(0.0, abs=1e-12)


def test_orpo_log_odds_stay_finite_near_probability_one_and_zero():
    x = t(-1e-12, -1e-6, -0.5, -math.log(2.0), -1.0, -40.0, -700.0)
    with decimal.localcontext(decimal.Context(prec=400)):  # log(1 − eˣ), 400 digits
        exact = [float((1 - decimal.Decimal(v).exp()).ln()) for v in x.tolist()]
    assert log1mexp(x).tolist() == pytest.approx(exact, rel=1e-14, abs=0.0)
    loss, _ = orpo_loss(t(-1e-12, -700.0), t(-700.0, -1e-12), t(0.0), lam=1.0)
    assert math.isfinite(loss.item())
    loss32, _ = orpo_loss(torch.tensor([-1e-7]), torch.tensor([-80.0]), torch.tensor(0.0))
    assert math.isfinite(loss32.item())


# ----------------------------------------------------------------------------- gradients

def _pair(seed=0, b=6):
    g = torch.Generator().manual_seed(seed)
    return [-(torch.rand(b, generator=g, dtype=D) * 20 + 1) for _ in range(4)]


def _grad_signs(fn, n_grad=2):
    inputs = _pair()
    for x in inputs[:n_grad]:
        x.requires_grad_(True)
    loss, _ = fn(*inputs)
    chosen, rejected = torch.autograd.grad(loss, inputs[:2])
    return chosen, rejected


@pytest.mark.parametrize("fn", [
    lambda c, r, rc, rr: dpo_loss(c, r, rc, rr, beta=0.1),
    lambda c, r, rc, rr: dpo_loss(c, r, rc, rr, beta=0.1, label_smoothing=0.2),
    lambda c, r, rc, rr: simpo_loss(c, r, rc.abs(), rr.abs(), beta=2.0, gamma=0.5),
    lambda c, r, rc, rr: orpo_loss(c / 30, r / 30, t(0.0), lam=0.1),
], ids=["dpo", "cdpo", "simpo", "orpo"])
def test_descent_pushes_the_chosen_up_and_the_rejected_down(fn):
    chosen, rejected = _grad_signs(fn)
    assert (chosen < 0).all() and (rejected > 0).all()


def test_ipo_pushes_towards_its_target_margin_from_either_side():
    # below the target (h < 1/(2β)) the chosen is pushed up; above it, down
    for c, r, sign in ((-3.0, -4.0, -1.0), (-1.0, -30.0, 1.0)):
        chosen, rejected = t(c).requires_grad_(), t(r).requires_grad_()
        loss, _ = ipo_loss(chosen, rejected, t(0.0), t(0.0), beta=0.1)  # target h = 5
        g_c, g_r = torch.autograd.grad(loss, (chosen, rejected))
        assert math.copysign(1.0, g_c.item()) == sign and math.copysign(1.0, g_r.item()) == -sign


def test_kto_pushes_desirable_up_and_undesirable_down():
    policy = t(-3.0, -2.0, -4.0, -1.0).requires_grad_()
    desirable = torch.tensor([True, False, True, False])
    loss, _ = kto_loss(policy, t(-3.0, -3.0, -3.0, -3.0), desirable, t(-3.0, -3.0, -3.0, -3.0),
                       t(-3.5, -3.5, -3.5, -3.5), beta=0.5)
    (grad,) = torch.autograd.grad(loss, policy)
    assert (grad[desirable] < 0).all() and (grad[~desirable] > 0).all()


@pytest.mark.parametrize("beta", [0.0, -0.1, math.nan, math.inf])
def test_a_nonpositive_beta_is_a_one_line_error(beta):
    c, r, rc, rr = _pair()
    calls = [lambda: dpo_loss(c, r, rc, rr, beta=beta), lambda: ipo_loss(c, r, rc, rr, beta=beta),
             lambda: simpo_loss(c, r, rc.abs(), rr.abs(), beta=beta),
             lambda: kto_loss(c, rc, c > rc, r, rr, beta=beta),
             lambda: orpo_loss(c, r, t(0.0), lam=beta)]
    for call in calls:
        with pytest.raises(ValueError) as err:
            call()
        assert "\n" not in str(err.value) and "must be" in str(err.value)
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(c, r, rc, rr, label_smoothing=0.5)


# ----------------------------------------------------------------------------- IPO vs DPO

def _toy_margins(loss_fn, beta, steps, lr):
    """A 2-logit policy over {y_w, y_l} with a uniform fixed reference, trained by gradient
    descent on one deterministic preference y_w ≻ y_l; returns the margin h after each step."""
    logits = torch.zeros(2, dtype=D, requires_grad=True)
    reference = torch.log(torch.full((2,), 0.5, dtype=D))
    margins = []
    for _ in range(steps):
        logp = torch.log_softmax(logits, dim=0)
        loss, _ = loss_fn(logp[:1], logp[1:], reference[:1], reference[1:], beta=beta)
        (grad,) = torch.autograd.grad(loss, logits)
        with torch.no_grad():
            logits -= lr * grad
            logp = torch.log_softmax(logits, dim=0)
            margins.append(float((logp[0] - reference[0]) - (logp[1] - reference[1])))
    return margins


def test_ipo_margin_converges_to_one_over_two_beta():
    for beta in (0.1, 0.5, 2.0):
        margins = _toy_margins(ipo_loss, beta, steps=200, lr=0.1)
        assert margins[-1] == pytest.approx(1.0 / (2.0 * beta), abs=1e-4)


def test_dpo_margin_keeps_growing_on_deterministic_preferences():
    beta = 0.5
    margins = _toy_margins(dpo_loss, beta, steps=2000, lr=1.0)
    steps = [b - a for a, b in zip(margins, margins[1:])]
    assert all(step > 0 for step in steps)  # monotone: no fixed point
    assert margins[-1] > 5 * (1.0 / (2.0 * beta))  # far past IPO's fixed point, still moving
    assert steps[-1] > 0 and margins[-1] > margins[len(margins) // 2] + 1.0


# ----------------------------------------------------------------------------- KTO's z₀

def test_kto_reference_point_uses_mismatched_pairs_is_clamped_and_detached():
    g = torch.Generator().manual_seed(1)
    B = 5
    # logp[i, j] = log π(y_j | x_i) for every prompt/completion pair of a toy batch
    policy = -torch.rand(B, B, generator=g, dtype=D) * 10
    reference = policy - torch.rand(B, B, generator=g, dtype=D)  # policy above reference
    j = kto_mismatched_index(B)
    rows = torch.arange(B)
    assert j.tolist() == torch.roll(rows, 1).tolist() == [4, 0, 1, 2, 3]
    assert (j != rows).all()  # every pair is mismatched
    pol_kl = policy[rows, j].clone().requires_grad_()
    ref_kl = reference[rows, j]
    z0 = kto_reference_point(pol_kl, ref_kl)
    assert z0.item() == pytest.approx(float((policy[rows, j] - reference[rows, j]).mean()))
    assert z0.item() > 0
    assert kto_reference_point(ref_kl, pol_kl.detach()).item() == 0.0  # negative mean → 0
    # the loss sends no gradient through z₀
    logps = torch.diagonal(policy).clone().requires_grad_()
    loss, stats = kto_loss(logps, torch.diagonal(reference), torch.arange(B) % 2 == 0,
                           pol_kl, ref_kl, beta=0.3)
    grads = torch.autograd.grad(loss, (logps, pol_kl), allow_unused=True)
    assert grads[0] is not None and grads[1] is None
    assert stats.kl.item() == z0.item()
    with pytest.raises(ValueError, match="batch_size must be"):
        kto_mismatched_index(1)


# ----------------------------------------------------------------------------- GRPO

def test_group_advantages_are_zero_mean_unit_std_per_group():
    g = torch.Generator().manual_seed(2)
    rewards = torch.randn(4 * 8, generator=g, dtype=D) * 3 + 1
    adv = group_advantages(rewards, 8, eps=0.0).view(4, 8)
    assert adv.mean(dim=1).abs().max().item() < 1e-12
    assert adv.std(dim=1).tolist() == pytest.approx([1.0] * 4, abs=1e-12)
    grouped = rewards.view(4, 8)
    with_eps = group_advantages(rewards, 8).view(4, 8)  # ε = 1e-4 exactly as written
    rebuilt = with_eps * (grouped.std(dim=1, keepdim=True) + 1e-4) + grouped.mean(1, keepdim=True)
    assert torch.allclose(rebuilt, grouped, atol=1e-12)
    plain = group_advantages(rewards, 8, scale_std=False).view(4, 8)  # Dr. GRPO
    assert torch.allclose(plain, grouped - grouped.mean(1, keepdim=True), atol=1e-12)
    assert group_advantages(t(1.0, 1.0, 0.0, 0.0), 2).tolist() == [0.0, 0.0, 0.0, 0.0]
    correct = group_advantages(torch.tensor([1, 0, 0, 0]), 4)  # 0/1 rewards as integers
    assert correct.is_floating_point() and correct[0] > 0 > correct[1]


def test_a_group_of_one_is_a_one_line_error():
    with pytest.raises(ValueError, match="at least 2 completions") as err:
        group_advantages(t(1.0, 2.0), 1)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="multiple of group_size"):
        group_advantages(t(1.0, 2.0, 3.0), 2)


def _batch(seed=3, P=3, G=4, T=7):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (P * G,), generator=g)
    lengths[0] = T
    mask = (torch.arange(T)[None, :] < lengths[:, None]).to(D)
    logps = -torch.rand(P * G, T, generator=g, dtype=D) * 3
    rewards = torch.randint(0, 2, (P * G,), generator=g).to(D) + torch.rand(P * G, generator=g,
                                                                             dtype=D)
    return logps, mask, lengths.to(D), group_advantages(rewards, G), g


def test_at_ratio_one_each_normalisation_weighs_the_advantages_as_defined():
    logps, mask, lengths, adv, _ = _batch()
    B, T = logps.shape
    losses, grads = {}, {}
    for loss_type in LOSS_TYPES:
        x = logps.clone().requires_grad_()
        loss, stats = grpo_loss(x, logps, adv, mask, beta=0.0, loss_type=loss_type)
        losses[loss_type] = loss.item()
        (grads[loss_type],) = torch.autograd.grad(loss, x)
        assert stats.ratio.item() == 1.0 and stats.clip_fraction.item() == 0.0
    # grpo: each sequence's token mean is −Â_i, so the loss is −mean Â = 0 with group-normalised
    # advantages, whatever the lengths
    assert losses["grpo"] == pytest.approx(-adv.mean().item(), abs=1e-12)
    assert abs(losses["grpo"]) < 1e-12
    assert losses["bnpo"] == pytest.approx(-(adv * lengths).sum().item() / lengths.sum().item(),
                                           abs=1e-12)
    assert losses["dr_grpo"] == pytest.approx(-(adv * lengths).sum().item() / (B * T), abs=1e-12)
    assert abs(losses["bnpo"]) > 1e-3  # lengths differ: the token-level means are not 0
    # the gradient ∂L/∂log π_i,t: −Â_i/(B |o_i|), −Â_i/Σ|o|, −Â_i/(B T) on real tokens, 0 on pads
    per_row = {"grpo": B * lengths, "bnpo": lengths.sum().expand(B), "dr_grpo": torch.full(
        (B,), float(B * T), dtype=D)}
    for loss_type, norm in per_row.items():
        expected = -(adv / norm)[:, None] * mask
        assert torch.allclose(grads[loss_type], expected, atol=1e-12), loss_type
    longer, _ = grpo_loss(logps, logps, adv, mask, beta=0.0, loss_type="dr_grpo",
                          max_completion_length=2 * T)
    assert longer.item() == pytest.approx(losses["dr_grpo"] / 2, abs=1e-12)


def test_the_clip_stops_the_gradient_only_on_the_side_it_binds():
    old = torch.zeros(4, 1, dtype=D)
    logps = torch.log(t(1.5, 0.5, 1.5, 0.5)).view(4, 1).requires_grad_()
    adv = t(1.0, -1.0, -1.0, 1.0)
    loss, stats = grpo_loss(logps, old, adv, torch.ones(4, 1, dtype=D), beta=0.0, clip_eps=0.2)
    (grad,) = torch.autograd.grad(loss, logps)
    # ρ = 1.5, Â > 0 and ρ = 0.5, Â < 0: clipped, no gradient; the other two are not capped
    assert grad.view(-1)[:2].tolist() == [0.0, 0.0]
    assert grad.view(-1)[2].item() == pytest.approx(1.5 / 4) and grad.view(-1)[3].item() < 0
    assert stats.clip_fraction.item() == 0.5
    # clip-higher: ε_high = 0.6 leaves ρ = 1.5 free
    loss_hi, stats_hi = grpo_loss(logps, old, adv, torch.ones(4, 1, dtype=D), beta=0.0,
                                  clip_eps=0.2, clip_eps_high=0.6)
    assert torch.autograd.grad(loss_hi, logps)[0].view(-1)[0].item() == pytest.approx(-1.5 / 4)
    assert stats_hi.clip_fraction.item() == 0.25


def test_the_kl_term_adds_beta_times_the_mean_k3():
    logps, mask, lengths, _, g = _batch()
    ref = logps + torch.randn(logps.shape, generator=g, dtype=D) * 0.3
    zero = torch.zeros(logps.shape[0], dtype=D)
    loss, stats = grpo_loss(logps, logps, zero, mask, ref_logps=ref, beta=0.04, loss_type="bnpo")
    k3 = k3_kl(logps, ref)
    assert loss.item() == pytest.approx(0.04 * ((k3 * mask).sum() / mask.sum()).item(), abs=1e-12)
    assert stats.kl.item() == pytest.approx(((k3 * mask).sum() / mask.sum()).item(), abs=1e-12)
    empty = mask.clone()
    empty[1] = 0  # a completion with no tokens contributes 0, not NaN
    for loss_type in LOSS_TYPES:
        assert math.isfinite(grpo_loss(logps, logps, zero + 1, empty, beta=0.0,
                                       loss_type=loss_type)[0].item())
    with pytest.raises(ValueError, match="ref_logps"):
        grpo_loss(logps, logps, zero, mask, beta=0.04)
    with pytest.raises(ValueError, match="loss_type"):
        grpo_loss(logps, logps, zero, mask, beta=0.0, loss_type="dapo")


def test_k3_is_nonnegative_and_unbiased_for_kl_policy_to_reference():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(200, generator=g, dtype=D), torch.randn(200, generator=g, dtype=D) * 5
    assert (k3_kl(a, b) >= 0).all() and (k3_kl(a, a) == 0).all()
    assert k3_kl(a, b).mean().item() == pytest.approx(approx_kl(b, a).item(), abs=1e-12)
    logp = torch.log_softmax(torch.randn(5, generator=g, dtype=D), 0)  # π over 5 tokens
    ref = torch.log_softmax(torch.randn(5, generator=g, dtype=D), 0)
    kl = (logp.exp() * (logp - ref)).sum().item()  # KL(π ‖ π_ref)
    per_token = k3_kl(logp, ref)
    assert (logp.exp() * per_token).sum().item() == pytest.approx(kl, abs=1e-12)  # E_π exactly
    samples = torch.multinomial(logp.exp(), 100_000, replacement=True, generator=g)
    draws = per_token[samples]
    stderr = draws.std().item() / math.sqrt(draws.numel())
    assert abs(draws.mean().item() - kl) < 4 * stderr


# ----------------------------------------------------------------------------- best-of-n

def test_best_of_n_kl_formula_and_its_monte_carlo_on_continuous_rewards():
    assert best_of_n_kl(1) == 0.0 and best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)
    g = torch.Generator().manual_seed(5)
    for n in (2, 4, 16):
        # base π = U(0, 1), reward = the value: the selected draw's density is n u^{n−1}
        draws = torch.rand(100_000, n, generator=g, dtype=D)
        chosen = draws[torch.arange(draws.shape[0]), best_of_n(draws)]
        assert torch.equal(chosen, draws.max(dim=1).values)
        log_ratio = math.log(n) + (n - 1) * torch.log(chosen)  # log π_bon(u)/π(u)
        stderr = log_ratio.std().item() / math.sqrt(log_ratio.numel())
        assert abs(log_ratio.mean().item() - best_of_n_kl(n)) < 4 * stderr


def _kl(q, p):
    return torch.sum(torch.xlogy(q, q) - torch.xlogy(q, p)).item()


def test_the_formula_is_an_upper_bound_with_atoms_and_the_limit_without():
    # two equally likely outcomes: the true KL stays below log 2 while the formula grows as log n
    two = best_of_n_distribution(t(0.5, 0.5), t(0.0, 1.0), 8)
    assert two.tolist() == pytest.approx([0.5 ** 8, 1 - 0.5 ** 8], abs=1e-15)
    assert _kl(two, t(0.5, 0.5)) < math.log(2) < best_of_n_kl(8)
    g = torch.Generator().manual_seed(6)
    for n in (1, 2, 8):
        probs = torch.softmax(torch.randn(6, generator=g, dtype=D), 0)
        rewards = torch.randint(0, 3, (6,), generator=g).to(D)  # ties included
        q = best_of_n_distribution(probs, rewards, n)
        assert q.sum().item() == pytest.approx(1.0, abs=1e-12)
        assert _kl(q, probs) <= best_of_n_kl(n) + 1e-12
    uniform = torch.full((4000,), 1 / 4000, dtype=D)  # many distinct outcomes → continuous
    q = best_of_n_distribution(uniform, torch.arange(4000, dtype=D), 4)
    assert _kl(q, uniform) == pytest.approx(best_of_n_kl(4), abs=1e-2)


def test_best_of_n_picks_the_first_of_tied_maxima_and_checks_its_input():
    assert best_of_n(t(1.0, 3.0, 3.0, 0.0).view(1, 4)).tolist() == [1]
    with pytest.raises(ValueError, match="must be"):
        best_of_n(t(1.0, 2.0))
    with pytest.raises(ValueError, match="n must be"):
        best_of_n_kl(0)


# ----------------------------------------------------------------------------- against TRL

def _stub(**attrs):
    accelerator = SimpleNamespace(device=torch.device("cpu"), gather=lambda x: x,
                                  gather_for_metrics=lambda x: x, reduce=lambda x, reduction: x,
                                  num_processes=1, sync_gradients=True)
    base = dict(model=SimpleNamespace(training=False), accelerator=accelerator,
                aux_loss_enabled=False, _metrics=defaultdict(lambda: defaultdict(list)),
                _total_train_tokens=0, _tp_size=1)
    return SimpleNamespace(**(base | attrs))


def _model(per_token_logps):
    """A stand-in for TRL's fused-LM-head forward: returns the given per-token log-probs."""
    zeros = torch.zeros_like(per_token_logps)
    return lambda **_: SimpleNamespace(log_probs=per_token_logps, entropy=zeros,
                                       mean_logits=zeros, is_top1=zeros.bool())


def _sequences(g, n, L=9):
    """Random per-token log-probs (n, L−1) of completions after a one-token prompt, their
    completion mask (n, L) as TRL lays it out, and the per-sequence sums and lengths."""
    lengths = torch.randint(1, L, (n,), generator=g)
    mask = torch.zeros(n, L, dtype=torch.long)
    for i, length in enumerate(lengths.tolist()):
        mask[i, 1:1 + length] = 1
    per_token = -torch.rand(n, L - 1, generator=g, dtype=D) * 2 * mask[:, 1:]
    return per_token, mask, per_token.sum(1), lengths.to(D)


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_dpo_and_ipo_match_trl(loss_type):
    pytest.importorskip("trl")
    from trl.trainer.dpo_trainer import DPOTrainer

    g = torch.Generator().manual_seed(7)
    B = 6
    per_token, mask, logps, lengths = _sequences(g, 2 * B)
    ref = logps + torch.randn(2 * B, generator=g, dtype=D)
    stub = _stub(ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl",
                 loss_types=[loss_type], loss_weights=[1.0], beta=0.3, label_smoothing=0.0,
                 use_weighting=False)
    inputs = {"input_ids": torch.zeros_like(mask), "attention_mask": torch.ones_like(mask),
              "completion_mask": mask, "ref_chosen_logps": ref[:B], "ref_rejected_logps": ref[B:]}
    theirs = DPOTrainer._compute_loss(stub, _model(per_token), inputs, False)
    if loss_type == "sigmoid":
        ours, _ = dpo_loss(logps[:B], logps[B:], ref[:B], ref[B:], beta=0.3)
    else:  # TRL averages IPO's log-ratios per token: the same function on averaged inputs
        avg, ref_avg = logps / lengths, ref / lengths
        ours, _ = ipo_loss(avg[:B], avg[B:], ref_avg[:B], ref_avg[B:], beta=0.3)
        summed, _ = ipo_loss(logps[:B], logps[B:], ref[:B], ref[B:], beta=0.3)
        assert abs(summed.item() - theirs.item()) > 1e-3  # the paper's form differs
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12, abs=1e-12)
    assert stub._metrics["eval"]["rewards/margins"][0] == pytest.approx(
        (0.3 * ((logps[:B] - ref[:B]) - (logps[B:] - ref[B:]))).mean().item())


def test_kto_matches_trl():
    pytest.importorskip("trl")
    from trl.trainer.kto_trainer import KTOTrainer

    g = torch.Generator().manual_seed(8)
    B = 8
    per_token, mask, logps, _ = _sequences(g, B)
    ref = logps + torch.randn(B, generator=g, dtype=D)
    kl_logps = logps[kto_mismatched_index(B)] + torch.randn(B, generator=g, dtype=D)
    ref_kl = kl_logps - torch.rand(B, generator=g, dtype=D)  # z₀ > 0
    label = torch.tensor([True, False, True, True, False, True, False, False])
    stub = _stub(_compute_kl_logps=lambda model, batch: kl_logps, precompute_ref_logps=True,
                 calculate_KL=True, loss_type="kto", beta=0.2, desirable_weight=1.3,
                 undesirable_weight=0.8)
    inputs = {"input_ids": torch.zeros_like(mask), "attention_mask": torch.ones_like(mask),
              "completion_mask": mask, "label": label, "ref_logps": ref, "ref_KL_logps": ref_kl}
    theirs = KTOTrainer._compute_loss(stub, _model(per_token), inputs, False)
    ours, stats = kto_loss(logps, ref, label, kl_logps, ref_kl, beta=0.2, desirable_weight=1.3,
                           undesirable_weight=0.8)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12, abs=1e-12)
    assert stats.kl.item() == pytest.approx(stub._metrics["eval"]["kl"][0], rel=1e-12)


def test_simpo_cdpo_and_orpo_match_trl():
    pytest.importorskip("trl")
    from trl.experimental.cpo.cpo_trainer import CPOTrainer
    from trl.experimental.orpo.orpo_trainer import ORPOTrainer

    g = torch.Generator().manual_seed(9)
    c, r = -torch.rand(16, generator=g, dtype=D) * 30, -torch.rand(16, generator=g, dtype=D) * 30
    lc, lr = torch.randint(1, 20, (16,), generator=g).to(D), torch.randint(1, 20, (16,),
                                                                         generator=g).to(D)
    simpo = _stub(alpha=0.0, loss_type="simpo", simpo_gamma=0.7, beta=2.5, label_smoothing=0.0)
    theirs, _, _ = CPOTrainer.cpo_loss(simpo, c / lc, r / lr)  # TRL feeds SimPO averages
    ours, _ = simpo_loss(c, r, lc, lr, beta=2.5, gamma=0.7)
    assert ours.item() == pytest.approx(theirs.mean().item(), rel=1e-12)
    # CPO's "sigmoid" with label smoothing is cDPO's formula on reference-free logits
    cdpo = _stub(alpha=0.0, loss_type="sigmoid", beta=0.4, label_smoothing=0.15)
    theirs, _, _ = CPOTrainer.cpo_loss(cdpo, c, r)
    zero = torch.zeros_like(c)
    ours, _ = dpo_loss(c, r, zero, zero, beta=0.4, label_smoothing=0.15)
    assert ours.item() == pytest.approx(theirs.mean().item(), rel=1e-12)
    # ORPO: TRL's loss is nll − mean(β log σ(log odds ratio)), its β being the paper's λ
    # (TRL computes it in float32, so the comparison is in float32)
    orpo = _stub(beta=0.25)
    avg_c, avg_r = (c / lc / 10).float(), (r / lr / 10).float()
    losses, *_ = ORPOTrainer.odds_ratio_loss(orpo, avg_c, avg_r)
    nll = torch.tensor(1.7)
    ours, _ = orpo_loss(avg_c, avg_r, nll, lam=0.25)
    assert ours.item() == pytest.approx((nll - losses.mean()).item(), rel=1e-6)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_grpo_matches_trl(loss_type):
    pytest.importorskip("trl")
    from trl.trainer.grpo_trainer import GRPOTrainer
    from trl.trainer.utils import nanstd

    logps, mask, _, _, g = _batch(seed=10, P=4, G=4, T=6)
    old = logps + torch.randn(logps.shape, generator=g, dtype=D) * 0.3  # ratios beyond the clip
    ref = logps + torch.randn(logps.shape, generator=g, dtype=D) * 0.3
    rewards = torch.rand(16, generator=g, dtype=D)
    adv = group_advantages(rewards, 4)
    trl_adv = (rewards - rewards.view(-1, 4).mean(1).repeat_interleave(4)) / (
        nanstd(rewards.view(-1, 4), dim=1).repeat_interleave(4) + 1e-4)
    assert torch.allclose(adv, trl_adv, rtol=1e-6)  # TRL's Bessel factor n/(n−1) is float32
    stub = _stub(_get_per_token_logps_and_entropies=lambda *a, **k: (logps, torch.zeros_like(
                     logps), None),
                 top_entropy_quantile=1.0, off_policy_mask_threshold=None,
                 importance_sampling_level="token", beta=0.05, loss_type=loss_type,
                 args=SimpleNamespace(use_bias_correction_kl=False, delta=None),
                 epsilon_low=0.2, epsilon_high=0.28, use_vllm=False, max_completion_length=10,
                 current_gradient_accumulation_steps=1, _entropy_bonus_enabled=False)
    B = logps.shape[0]
    inputs = {"prompt_ids": torch.zeros(B, 1, dtype=torch.long),
              "prompt_mask": torch.ones(B, 1, dtype=torch.long),
              "completion_ids": torch.zeros(mask.shape, dtype=torch.long),
              "completion_mask": mask, "advantages": adv, "old_per_token_logps": old,
              "ref_per_token_logps": ref}
    theirs = GRPOTrainer._compute_loss(stub, None, inputs)
    ours, stats = grpo_loss(logps, old, adv, mask, ref_logps=ref, beta=0.05, clip_eps=0.2,
                            clip_eps_high=0.28, loss_type=loss_type, max_completion_length=10)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12, abs=1e-12)
    metrics = stub._metrics["eval"]
    assert stats.kl.item() == pytest.approx(metrics["kl"][0], rel=1e-12)
    assert stats.clip_fraction.item() == pytest.approx(metrics["clip_ratio/region_mean"][0])
    assert 0 < stats.clip_fraction.item() < 1
