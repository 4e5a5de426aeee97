"""Sampling and generation (algorithms/lm/generate.py) against hand-written references."""

from __future__ import annotations

import pytest
import torch

from algorithms.lm import LanguageModel, LMConfig
from algorithms.lm.generate import (
    Sampling,
    filter_logits,
    generate,
    sample_next,
    sequence_log_probs,
)

VOCAB = 23


@pytest.fixture(scope="module")
def model() -> LanguageModel:
    torch.manual_seed(0)
    net = LanguageModel(LMConfig(vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4,
                                 n_kv_heads=2, max_seq_len=24, init_std=0.3))
    return net.train()  # generate must switch to eval and back


# ----------------------------------------------------------------------------- sampling

def test_sampling_validates_and_labels():
    assert Sampling(0.0).label() == "greedy"
    assert Sampling(0.8, top_p=0.9).label() == "T=0.8, top-p 0.9"
    assert Sampling(top_k=50).label() == "T=1, top-k 50"
    for bad in (dict(temperature=-1), dict(top_k=0), dict(top_p=0.0), dict(top_p=1.5)):
        with pytest.raises(ValueError):
            Sampling(**bad)


def test_top_k_keeps_exactly_the_k_largest():
    logits = torch.randn(5, 40, generator=torch.Generator().manual_seed(0))
    kept = filter_logits(logits, top_k=7)
    finite = kept.isfinite()
    assert (finite.sum(-1) == 7).all()
    assert torch.equal(kept[finite], logits[finite])
    kth = logits.sort(-1, descending=True).values[:, 6:7]
    assert torch.equal(finite, logits >= kth)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.7, 0.95])
def test_top_p_keeps_the_smallest_nucleus(p):
    logits = torch.randn(6, 30, generator=torch.Generator().manual_seed(1)) * 2
    kept = filter_logits(logits, top_p=p)
    for row, out in zip(logits, kept):
        probs = row.softmax(-1).tolist()
        order = sorted(range(len(probs)), key=lambda i: -probs[i])
        nucleus, mass = set(), 0.0
        for i in order:  # add tokens by probability until the mass reaches p
            nucleus.add(i)
            mass += probs[i]
            if mass >= p:
                break
        assert set(torch.nonzero(out.isfinite()).flatten().tolist()) == nucleus
    assert filter_logits(logits, top_p=1e-6).isfinite().sum(-1).eq(1).all()  # top token stays


def test_temperature_zero_is_argmax():
    logits = torch.randn(8, VOCAB)
    assert torch.equal(sample_next(logits, Sampling(0.0)), logits.argmax(-1))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sample_frequencies_match_the_tempered_softmax(temperature):
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
    n = 20000
    draws = sample_next(logits.expand(n, -1), Sampling(temperature),
                        torch.Generator().manual_seed(0))
    frequencies = torch.bincount(draws, minlength=5).float() / n
    expected = (logits / temperature).softmax(-1)
    assert (frequencies - expected).abs().max() < 0.015  # ~4 standard errors at n = 20000


def test_sampling_respects_top_k():
    logits = torch.randn(2000, 10, generator=torch.Generator().manual_seed(2))
    draws = sample_next(logits, Sampling(1.5, top_k=3), torch.Generator().manual_seed(0))
    allowed = logits.topk(3, dim=-1).indices
    assert (allowed == draws[:, None]).any(-1).all()


# ----------------------------------------------------------------------------- generation

@pytest.mark.parametrize("sampling", [Sampling(0.0), Sampling(1.0), Sampling(0.8, top_k=5),
                                      Sampling(1.2, top_p=0.8)])
def test_cached_generation_equals_recomputation(model, sampling):
    prompt = torch.randint(0, VOCAB, (3, 4), generator=torch.Generator().manual_seed(3))
    runs = [generate(model, prompt, 12, sampling, generator=torch.Generator().manual_seed(7),
                     use_cache=use_cache) for use_cache in (True, False)]
    assert runs[0] == runs[1]
    assert all(len(row) == 12 for row in runs[0])
    assert model.training  # the mode is restored


def test_greedy_generation_follows_the_argmax_of_the_full_forward(model):
    prompt = torch.randint(0, VOCAB, (2, 3), generator=torch.Generator().manual_seed(4))
    new = generate(model, prompt, 6, Sampling(0.0))
    model.eval()
    seq = prompt
    with torch.no_grad():
        for _ in range(6):
            seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
    model.train()
    assert new == seq[:, 3:].tolist()


def test_rows_stop_at_eos_which_is_not_included(model):
    prompt = torch.randint(0, VOCAB, (4, 3), generator=torch.Generator().manual_seed(5))
    free = generate(model, prompt, 15, Sampling(1.0), generator=torch.Generator().manual_seed(1))
    eos = free[0][4]  # a token the first row emits: with eos it stops before it
    stopped = generate(model, prompt, 15, Sampling(1.0), eos_id=eos,
                       generator=torch.Generator().manual_seed(1))
    for row, full in zip(stopped, free):
        expected = full[:full.index(eos)] if eos in full else full
        assert row == expected
    assert len(stopped[0]) <= 4


def test_generation_never_exceeds_the_context(model):
    prompt = torch.zeros(2, 20, dtype=torch.long)
    for use_cache in (True, False):
        new = generate(model, prompt, 50, Sampling(1.0), use_cache=use_cache)
        assert [len(row) for row in new] == [4, 4]  # 20 + 4 = max_seq_len
    assert generate(model, torch.zeros(1, 24, dtype=torch.long), 5) == [[]]
    with pytest.raises(ValueError, match="does not fit"):
        generate(model, torch.zeros(1, 25, dtype=torch.long), 1)


def test_sequence_log_probs_equals_the_manual_gather(model):
    idx = torch.randint(0, VOCAB, (3, 10), generator=torch.Generator().manual_seed(6))
    log_probs = model(idx).log_softmax(-1)
    for start in (1, 4):
        expected = torch.stack([log_probs[:, t - 1].gather(-1, idx[:, t:t + 1]).squeeze(-1)
                                for t in range(start, 10)], dim=1)
        torch.testing.assert_close(sequence_log_probs(model, idx, start), expected)
    with pytest.raises(ValueError):
        sequence_log_probs(model, idx, start=0)
