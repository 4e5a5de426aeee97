"""WordPiece, the Unigram LM, the metrics, and the library references."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from algorithms.tokenization import corpora, metrics, unigram, wordpiece
from algorithms.tokenization.references import METHODS, train
from algorithms.tokenization.unigram import Unigram, _digamma, _lattice_of, train_unigram
from algorithms.tokenization.wordpiece import WordPiece, train_wordpiece

STORIES = [line for line in (corpora.DATA / "tinystories" / "tinystories_sample_cs336.txt")
           .read_text("utf-8").splitlines() if line.strip() and line != "<|endoftext|>"]


# ----------------------------------------------------------------------------- WordPiece

def test_bert_split_separates_punctuation_and_whitespace():
    assert wordpiece.words("Don't stop—now! x=1+2") == \
        ["Don", "'", "t", "stop", "—", "now", "!", "x", "=", "1", "+", "2"]


def test_greedy_longest_match_first_and_whole_word_unk():
    model = WordPiece(["[UNK]", "un", "unaff", "##aff", "##able", "u", "##n", "##a", "##f",
                       "##b", "##l", "##e", "a"])
    pieces = lambda text: [model.vocab[i] for i in model.encode(text)]  # noqa: E731
    assert pieces("unaffable") == ["unaff", "##able"]
    assert pieces("unable") == ["un", "##able"]
    assert pieces("unaffablez") == ["[UNK]"]  # no piece for "z": the whole word is unknown
    assert pieces("a unable") == ["a", "un", "##able"]
    assert model.decode(model.encode("a unable")) == "a unable"


def reference_wordpiece(words: Counter, vocab_size: int) -> list[str]:
    """WordPiece training the slow way: recount, score count(ab)/(count(a)·count(b)), merge."""
    seqs = Counter({tuple([w[0]] + ["##" + c for c in w[1:]]): n for w, n in words.items()})
    alphabet = Counter()
    for seq, n in seqs.items():
        for s in seq:
            alphabet[s] += n
    tokens = ["[UNK]"] + sorted(alphabet, key=lambda s: (-alphabet[s], s))
    while len(tokens) < vocab_size:
        pairs, singles = Counter(), Counter()
        for seq, n in seqs.items():
            for pair in zip(seq, seq[1:]):
                pairs[pair] += n
            for s in seq:
                singles[s] += n
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p] / (singles[p[0]] * singles[p[1]]),
                                         p[0].encode(), p[1].encode()))
        new = best[0] + best[1].removeprefix("##")
        if new not in tokens:
            tokens.append(new)
        merged = Counter()
        for seq, n in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            merged[tuple(out)] += n
        seqs = merged
    return tokens


def test_wordpiece_training_matches_the_reference():
    text = STORIES[:30]
    model = train_wordpiece(text, 260, character_coverage=1.0, max_alphabet_share=1.0)
    words = Counter(w for line in text for w in wordpiece.words(line))
    assert model.vocab == reference_wordpiece(words, 260)
    assert model.truncated(200).vocab == train_wordpiece(
        text, 200, character_coverage=1.0, max_alphabet_share=1.0).vocab


def test_wordpiece_encoder_compresses_like_hf_given_the_same_merge_rule():
    # HF's WordPiece trainer merges by frequency; with the same rule forge's matches it
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    lines = corpora.domain("science", "train", 100_000)
    held_out = corpora.domain("science", "test", 30_000)
    ours = train_wordpiece(lines, 1500, strategy="frequency")
    hf = HFTokenizer(models.WordPiece(unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    alphabet = sum(1 for token in ours.vocab if len(token.removeprefix("##")) == 1
                   and not token.startswith("##"))
    hf.train_from_iterator(lines, trainers.WordPieceTrainer(
        vocab_size=1500, special_tokens=["[UNK]"], limit_alphabet=alphabet, show_progress=False))
    n_ours = sum(len(ours.encode(line)) for line in held_out)
    n_hf = sum(len(e.ids) for e in hf.encode_batch(held_out))
    assert n_ours == pytest.approx(n_hf, rel=0.03)
    # the likelihood score spends its merges on rare pairs: far less compression
    likelihood = train_wordpiece(lines, 1500)
    assert sum(len(likelihood.encode(line)) for line in held_out) > 1.5 * n_ours


def test_wordpiece_alphabet_limit_makes_rare_characters_unknown():
    text = STORIES[:40] + ["ж"]
    model = train_wordpiece(text, 200, character_coverage=0.999)
    assert "ж" not in model.vocab
    assert model.encode("жук") == [model.unk_id]
    assert model.unk_id not in model.encode(STORIES[0])


# ----------------------------------------------------------------------------- Unigram LM

def all_segmentations(word: str):
    for cuts in itertools.product([False, True], repeat=len(word) - 1):
        pieces, start = [], 0
        for i, cut in enumerate(cuts, start=1):
            if cut:
                pieces.append(word[start:i])
                start = i
        yield pieces + [word[start:]]


def test_sentencepiece_words():
    assert unigram.words("Hello  world") == ["▁Hello", "▁", "▁world"]
    assert unigram.words("x", add_dummy_prefix=False) == ["x"]


def test_viterbi_finds_the_most_probable_segmentation():
    rng = np.random.default_rng(0)
    pieces = ["<unk>", "a", "b", "c", "ab", "bc", "abc", "ca", "cab", "bca", "▁", "▁a", "▁ab"]
    scores = [0.0] + list(-rng.uniform(1, 6, len(pieces) - 1))
    model = Unigram(pieces, scores)
    score = dict(zip(pieces, scores))
    for word in ("▁abcab", "▁cabca", "▁bcabcabc", "▁acb"):
        best = max((s for s in all_segmentations(word) if all(p in score for p in s)),
                   key=lambda s: sum(score[p] for p in s))
        assert [model.pieces[i] for i in model._viterbi(word)] == best


def test_lattice_forward_backward_and_viterbi_agree_with_enumeration():
    pieces = ["a", "b", "c", "ab", "bc", "abc", "ca", "cab"]
    log_p = np.log(np.array([0.2, 0.15, 0.15, 0.1, 0.1, 0.05, 0.15, 0.1]))
    words = ["abcab", "cabc", "a", "bcabca"]
    lattice = _lattice_of(words, {p: i for i, p in enumerate(pieces)}, 3, whole=True)
    alpha, beta = lattice.forward(log_p), lattice.backward(log_p)
    best, strings, used = lattice.viterbi(log_p)
    score = dict(zip(pieces, log_p))
    for w, word in enumerate(words):
        segs = [s for s in all_segmentations(word) if all(p in score for p in s)]
        total = np.log(sum(math.exp(sum(score[p] for p in s)) for s in segs))
        assert alpha[lattice.base[w] + len(word)] == pytest.approx(total)
        assert beta[lattice.base[w]] == pytest.approx(total)
        top = max(segs, key=lambda s: sum(score[p] for p in s))
        assert best[w] == pytest.approx(sum(score[p] for p in top))
        chosen = [pieces[i] for i in used[strings == w]][::-1]  # backtracked from the end
        assert "".join(chosen) == word  # a segmentation of the word ...
        assert sum(score[p] for p in chosen) == pytest.approx(best[w])  # ... and a best one


def test_digamma():
    assert _digamma(np.array([1.0, 0.5, 10.0])) == pytest.approx(
        [-0.5772156649, -1.9635100260, 2.2517525891], abs=1e-9)


def test_unigram_training_gives_the_sizes_asked_and_round_trips():
    models = train_unigram(STORIES, [150, 300], character_coverage=1.0, max_alphabet_share=1.0)
    assert set(models) == {150, 300}
    for size, model in models.items():
        assert model.vocab_size == size and model.pieces[0] == "<unk>"
        assert math.fsum(math.exp(s) for s in model.scores[1:]) <= 1.0 + 1e-9
        for line in STORIES[:20]:
            assert model.decode(model.encode(line)) == line
    # the bigger vocabulary segments the training text into fewer pieces
    n = {size: sum(len(m.encode(line)) for line in STORIES) for size, m in models.items()}
    assert n[300] < n[150]
    single = train_unigram(STORIES, 300, character_coverage=1.0, max_alphabet_share=1.0)
    assert single.pieces == models[300].pieces  # the larger size is an ordinary run


def test_unknown_characters_become_one_unk_per_run():
    model = train_unigram(STORIES, 120)
    ids = model.encode("cat жжж dog")
    assert ids.count(model.unk_id) == 1
    assert model.decode(ids) == "cat  ⁇  dog"


def test_forge_unigram_compresses_like_sentencepiece():
    lines = corpora.domain("prose", "train", 120_000)
    held_out = corpora.domain("prose", "test", 30_000)
    n_bytes = corpora.n_bytes(held_out)
    bpt = {}
    for method in ("forge_unigram", "spm_unigram"):
        trained = train(method, lines, [1000])[1000]
        bpt[method] = n_bytes / sum(map(len, trained.encode_lines(held_out)))
    assert bpt["forge_unigram"] == pytest.approx(bpt["spm_unigram"], rel=0.05)


# ----------------------------------------------------------------------------- metrics

def test_entropies_of_a_uniform_distribution():
    counts = Counter({i: 5 for i in range(16)})
    assert metrics.shannon_entropy(counts) == pytest.approx(4.0)
    assert metrics.renyi_entropy(counts, 2.5) == pytest.approx(4.0)
    assert metrics.renyi_efficiency(counts, 16) == pytest.approx(1.0)
    assert metrics.renyi_efficiency(counts, 256) == pytest.approx(0.5)
    skewed = Counter({0: 100, 1: 1, 2: 1})
    assert metrics.renyi_entropy(skewed, 2.5) < metrics.shannon_entropy(skewed)


def test_zipf_fit_recovers_a_power_law():
    counts = Counter({r: round(1e6 * r ** -1.3) for r in range(1, 200)})
    s, r2 = metrics.zipf_fit(counts)
    assert s == pytest.approx(1.3, abs=0.01) and r2 > 0.999


def test_text_stats():
    stats = metrics.text_stats(["ab cd", "é"], [[1, 2, 3], [0]], unk_id=0)
    assert (stats.n_bytes, stats.n_words, stats.n_tokens, stats.n_unk) == (7, 3, 4, 1)
    assert stats.bytes_per_token == 7 / 4 and stats.fertility == 4 / 3
    assert stats.bits_per_byte == pytest.approx(2.0 * 4 / 7)
    assert metrics.premium(30, 20) == 1.5
    both = metrics.pooled([stats, metrics.text_stats(["xyz"], [[5, 5]])])
    assert (both.n_bytes, both.n_words, both.n_tokens, both.n_unk) == (10, 4, 6, 1)
    assert both.counts[5] == 2


# ----------------------------------------------------------------------------- corpora

def test_held_out_sets_are_named_by_domain_and_language():
    sets = corpora.held_out(("eng", "deu"), eval_bytes=2_000)
    assert set(sets) == {*corpora.DOMAINS, "udhr_eng", "udhr_deu", "docs_eng"}  # no German docs
    assert sets["udhr_deu"] == corpora.udhr("deu", "test")
    assert all(corpora.n_bytes(sets[name]) <= 2_000 + 500 for name in corpora.DOMAINS)


def test_languages_are_grouped_by_script_english_first():
    assert corpora.by_script(["kor", "rus", "fra", "eng", "ukr"]) == ["eng", "fra", "rus", "ukr",
                                                                       "kor"]


# ----------------------------------------------------------------------------- references

def test_every_method_trains_and_encodes_through_one_interface():
    lines = STORIES[:60] + corpora.udhr("rus", "train")[:10]
    for method in METHODS:
        trained = train(method, lines, [300])[300]
        assert trained.method == method
        assert abs(trained.vocab_size - 300) <= 300 * 0.2  # small corpora may run out of pieces
        ids = trained.encode_lines(["Once upon a time", "Все люди"])
        assert len(ids) == 2 and all(ids) and all(isinstance(i, int) for i in ids[0])
        assert trained.pieces(ids[0][0])
        stats = trained.stats(["Once upon a time"])
        assert stats.n_tokens == len(ids[0]) and stats.n_bytes == len("Once upon a time")
    with pytest.raises(ValueError, match="unknown method"):
        train("gpt4", lines, [300])
