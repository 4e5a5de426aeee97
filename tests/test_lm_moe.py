"""The MoE feed-forward layer (algorithms/lm/moe.py) against per-token loops written here."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from algorithms.lm.layers import SwiGLU
from algorithms.lm.moe import (MoEFeedForward, RoutingStats, expert_capacity,
                               load_balancing_loss, router_z_loss)

D, HIDDEN = 8, 12


def make_moe(n_experts=4, top_k=1, capacity_factor=None, seed=0, **kwargs) -> MoEFeedForward:
    torch.manual_seed(seed)
    return MoEFeedForward(D, n_experts, top_k, capacity_factor,
                          make_expert=lambda: SwiGLU(D, HIDDEN), **kwargs).double()


def reference(moe: MoEFeedForward, x: torch.Tensor, capacity: int | None = None):
    """Token by token: softmax of W_r x, the top-k experts, gates (renormalised for k ≥ 2),
    and, with a capacity, GShard's priority (all first choices in token order, then all second
    choices); returns the output and the list of dropped (token, choice) pairs."""
    tokens = x.reshape(-1, D)
    k, n = moe.top_k, moe.n_experts
    choices, weights = [], []
    for row in tokens:
        p = torch.softmax(moe.router.weight @ row, dim=0)
        ranked = sorted(range(n), key=lambda i: -p[i].item())[:k]
        g = [p[i] for i in ranked]
        if k > 1:
            g = [gi / sum(g) for gi in g]
        choices.append(ranked)
        weights.append(g)
    taken, dropped = [0] * n, []
    keep = [[True] * k for _ in tokens]
    for j in range(k):
        for s in range(len(tokens)):
            e = choices[s][j]
            if capacity is not None and taken[e] >= capacity:
                keep[s][j] = False
                dropped.append((s, j))
            taken[e] += 1
    out = torch.zeros_like(tokens)
    for s, row in enumerate(tokens):
        for j in range(k):
            if keep[s][j]:
                out[s] += weights[s][j] * moe.experts[choices[s][j]](row[None])[0]
    return out.reshape(x.shape), dropped


# ------------------------------------------------------------------------ auxiliary losses


@pytest.mark.parametrize("top_k", [1, 2])
def test_balance_loss_is_exactly_one_under_uniform_routing(top_k):
    n, tokens = 4, 16
    probs = torch.full((tokens, n), 1.0 / n)
    # token s chooses experts s, s + 1, ... (mod n): every expert equally often
    choice = (torch.arange(tokens)[:, None] + torch.arange(top_k)[None]) % n
    one_hot = F.one_hot(choice, n)                                    # (S, k, N)
    assert abs(load_balancing_loss(probs, one_hot).item() - 1.0) < 1e-6
    assert abs(load_balancing_loss(probs, one_hot.sum(1)).item() - 1.0) < 1e-6  # (S, N) form


def test_balance_loss_is_n_when_every_token_goes_to_one_expert():
    n, tokens = 8, 10
    probs = F.one_hot(torch.zeros(tokens, dtype=torch.long), n).float()
    loss = load_balancing_loss(probs, F.one_hot(torch.zeros(tokens, 1, dtype=torch.long), n))
    assert loss.item() == pytest.approx(n)
    # collapsed dispatch with softer probabilities is still above balanced
    torch.manual_seed(0)
    soft = torch.softmax(torch.randn(tokens, n) + 3 * probs, -1)
    assert load_balancing_loss(soft, probs) > 1


def test_z_loss_is_the_mean_squared_log_partition_function():
    logits = torch.randn(3, 5, 6, dtype=torch.float64) * 4
    direct = sum(math.log(sum(math.exp(v) for v in row)) ** 2
                 for row in logits.reshape(-1, 6).tolist()) / 15
    assert router_z_loss(logits).item() == pytest.approx(direct, rel=1e-6)


# ------------------------------------------------------------------------------- capacity


def test_capacity_arithmetic():
    assert expert_capacity(64, 8, 1, 1.0) == 8               # Switch: tokens / experts × cf
    assert expert_capacity(100, 8, 1, 1.25) == 16            # ⌈15.625⌉
    assert expert_capacity(100, 8, 2, 1.25) == 32            # GShard: k assignments per token
    assert expert_capacity(10, 4, 2, None) == 10             # no limit
    with pytest.raises(ValueError):
        expert_capacity(10, 4, 1, 0.0)


def routed_by_hand(choices: list[int]) -> tuple[MoEFeedForward, torch.Tensor]:
    """A router that sends token s to expert ``choices[s]`` first (identity W_r, x one-hot-ish),
    and to the next expert (mod N) second."""
    moe = make_moe(n_experts=D, top_k=2, capacity_factor=None)
    with torch.no_grad():
        moe.router.weight.copy_(torch.eye(D) * 5)
    x = torch.zeros(1, len(choices), D, dtype=torch.float64)
    for s, e in enumerate(choices):
        x[0, s, e], x[0, s, (e + 1) % D] = 1.0, 0.5
    return moe, x


@pytest.mark.parametrize("top_k", [1, 2])
def test_exactly_the_over_capacity_assignments_are_dropped_in_priority_order(top_k):
    # 6 tokens, 8 experts: capacity ⌈cf · k · 6 / 8⌉ = 1 with cf = 1 / (k · 6 / 8) · 0.9
    moe, x = routed_by_hand([0, 0, 1, 0, 1, 7])
    moe.top_k = top_k
    moe.capacity_factor = 0.9 * 8 / (top_k * 6)
    assert expert_capacity(6, 8, top_k, moe.capacity_factor) == 1
    out = moe(x)
    expected, dropped = reference(moe, x, capacity=1)
    # first choices, in token order: 0 → e0 kept, 1 → e0 over, 2 → e1 kept, 3 → e0 over,
    # 4 → e1 over, 5 → e7 kept; then second choices: 0 → e1 over, 1 → e1 over, 2 → e2 kept,
    # 3 → e1 over, 4 → e2 over, 5 → e0 over
    first = [(1, 0), (3, 0), (4, 0)]
    second = [(0, 1), (1, 1), (3, 1), (4, 1), (5, 1)]
    assert dropped == (first if top_k == 1 else first + second)
    torch.testing.assert_close(out, expected)
    for s in (1, 3, 4):                              # every choice dropped: exactly zero
        assert torch.equal(out[0, s], torch.zeros(D, dtype=out.dtype))
    assert moe.stats.dropped.item() == pytest.approx(len(dropped) / (6 * top_k))

    moe.capacity_factor = None
    out = moe(x)
    assert moe.stats.dropped.item() == 0
    torch.testing.assert_close(out, reference(moe, x)[0])


@pytest.mark.parametrize("top_k", [1, 2])
def test_random_router_with_dropping_matches_the_reference(top_k):
    moe = make_moe(n_experts=4, top_k=top_k, capacity_factor=0.5, seed=3)
    with torch.no_grad():
        moe.router.weight.mul_(4)                    # uneven routing: some experts overflow
    x = torch.randn(2, 7, D, dtype=torch.float64)
    expected, dropped = reference(moe, x, capacity=expert_capacity(14, 4, top_k, 0.5))
    assert dropped
    torch.testing.assert_close(moe(x), expected)


# --------------------------------------------------------------------- against a reference


@pytest.mark.parametrize("n_experts, top_k", [(4, 1), (4, 2), (3, 3)])
def test_matches_a_per_token_loop_without_dropping(n_experts, top_k):
    moe = make_moe(n_experts, top_k, capacity_factor=None, seed=1)
    x = torch.randn(3, 5, D, dtype=torch.float64)
    out = moe(x)
    assert out.shape == x.shape and moe.stats.dropped.item() == 0
    torch.testing.assert_close(out, reference(moe, x)[0])


def test_one_expert_is_the_expert_itself():
    moe = make_moe(n_experts=1, top_k=1, capacity_factor=None)
    x = torch.randn(2, 6, D, dtype=torch.float64)
    torch.testing.assert_close(moe(x), moe.experts[0](x), rtol=0, atol=1e-12)
    assert moe.balance_loss.item() == pytest.approx(1.0)


def test_the_router_runs_in_float32_under_autocast():
    torch.manual_seed(0)
    moe = MoEFeedForward(D, 4, 2, None, make_expert=lambda: SwiGLU(D, HIDDEN))
    x = torch.randn(2, 5, D)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = moe(x)
        assert moe.route(x.reshape(-1, D)).dtype == torch.float32
    assert moe.z_loss.dtype == moe.balance_loss.dtype == torch.float32
    torch.testing.assert_close(out.float(), moe(x), atol=0.05, rtol=0.05)


def test_jitter_only_in_training():
    moe = make_moe(4, 1, None, router_jitter=0.5)
    x = torch.randn(2, 8, D, dtype=torch.float64)
    moe.eval()
    torch.testing.assert_close(moe(x), reference(moe, x)[0])
    moe.train()
    torch.manual_seed(1)
    first = moe.route(x.reshape(-1, D))
    assert not torch.allclose(first, moe.route(x.reshape(-1, D)))


# ------------------------------------------------------------------------------- gradients


def test_gradients_reach_the_router_and_every_used_expert():
    moe = make_moe(4, 2, capacity_factor=None, seed=2)
    x = torch.randn(2, 10, D, dtype=torch.float64)
    moe(x).square().sum().backward()                 # the task loss alone: through the gates
    assert moe.router.weight.grad.abs().sum() > 0
    used = set(moe.stats.load.nonzero().flatten().tolist())
    assert used == set(range(4))
    for e in used:
        assert all(p.grad is not None and p.grad.abs().sum() > 0
                   for p in moe.experts[e].parameters())

    moe.zero_grad()
    moe(x)
    (moe.balance_loss + moe.z_loss).backward()       # the auxiliary losses reach W_r too
    assert moe.router.weight.grad.abs().sum() > 0


def test_an_unused_expert_gets_no_gradient():
    moe, x = routed_by_hand([0, 0, 1])
    moe.top_k = 1
    moe(x).sum().backward()
    assert all(p.grad is None for p in moe.experts[5].parameters())
    assert moe.experts[0].down_proj.weight.grad is not None


# ----------------------------------------------------------------------------------- stats


def test_stats_under_uniform_and_balanced_routing():
    moe = make_moe(4, 1, None)
    with torch.no_grad():
        moe.router.weight.zero_()                     # p = 1/N for every token
    moe(torch.randn(2, 6, D, dtype=torch.float64))
    assert moe.stats.entropy.item() == pytest.approx(math.log(4))
    assert moe.stats.load.sum().item() == pytest.approx(1.0)

    moe, x = routed_by_hand([0, 1, 2, 3, 4, 5, 6, 7] * 2)   # every expert twice
    for k in (1, 2):
        moe.top_k = k
        moe(x)
        stats = moe.stats
        assert stats.load.sum().item() == pytest.approx(1.0)
        assert stats.load_cv.item() == pytest.approx(0.0, abs=1e-7)
        assert stats.entropy.item() < math.log(D)

    moe, x = routed_by_hand([3] * 5)                 # one expert takes every token
    moe.top_k = 1
    moe(x)
    assert moe.stats.load[3].item() == 1.0
    assert moe.stats.load_cv.item() == pytest.approx(math.sqrt(D - 1))


def test_stats_to_dict():
    stats = RoutingStats(load=torch.tensor([0.25, 0.75]), dropped=torch.tensor(0.1),
                         entropy=torch.tensor(0.5), load_cv=torch.tensor(0.5))
    assert stats.to_dict("moe/0/") == {
        "moe/0/load/expert0": 0.25, "moe/0/load/expert1": 0.75, "moe/0/dropped":
            pytest.approx(0.1), "moe/0/router_entropy": 0.5, "moe/0/load_cv": 0.5}
    assert all(isinstance(v, float) for v in stats.to_dict().values())


def test_balance_and_z_losses_are_those_of_the_forward():
    moe = make_moe(4, 2, 1.0, seed=4)
    x = torch.randn(2, 9, D, dtype=torch.float64)
    moe(x)
    logits = x.reshape(-1, D) @ moe.router.weight.t()
    probs = torch.softmax(logits, -1)
    mask = F.one_hot(probs.topk(2, -1).indices, 4)
    torch.testing.assert_close(moe.balance_loss, load_balancing_loss(probs, mask))
    torch.testing.assert_close(moe.z_loss, router_z_loss(logits))
    torch.testing.assert_close(moe.stats.load, mask.sum((0, 1)).float() / 36)


def test_rejects_bad_sizes():
    with pytest.raises(ValueError):
        MoEFeedForward(D, 2, 3, make_expert=nn.Identity)
    with pytest.raises(ValueError):
        MoEFeedForward(D, 2, 1, 0.0, make_expert=nn.Identity)
