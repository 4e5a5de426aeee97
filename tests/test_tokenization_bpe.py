"""Byte-level BPE: training against a slow, obviously correct reference; encoding; files."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
import regex

from algorithms.tokenization import Tokenizer, pretokenize, train_bpe, train_bpe_from_counts
from algorithms.tokenization.bpe import truncate
from algorithms.tokenization.tokenizer import show_token
from algorithms.tokenization.corpora import DATA, udhr

EOT = "<|endoftext|>"
# the GPT-2 pattern, written out again here rather than imported: it is the specification
GPT2 = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+"""
                     r"""| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
STORIES = (DATA / "tinystories" / "tinystories_sample_cs336.txt").read_text("utf-8")
MULTILINGUAL = "\n".join(line for code in ("eng", "rus", "hin", "cmn", "arb")
                         for line in udhr(code, "train")[:6])


# ----------------------------------------------------------------------------- the reference

def reference_bpe(text: str, vocab_size: int, special_tokens: list[str],
                  strategy: str = "frequency",
                  ) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """BPE as the textbook states it: recount every pair of every word before each merge.

    Words are tuples of byte strings; the pair with the highest score wins, ties going to the
    lexicographically greatest (bytes(a), bytes(b)). Nothing here is incremental.
    """
    pieces = re.split("|".join(map(re.escape, sorted(special_tokens, key=len, reverse=True))),
                      text) if special_tokens else [text]
    words = Counter(tuple(bytes([b]) for b in token.encode("utf-8"))
                    for piece in pieces for token in GPT2.findall(piece))
    tokens = [bytes([b]) for b in range(256)]
    merges = []
    while len(special_tokens) + len(tokens) < vocab_size:
        pairs, singles = Counter(), Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
            for token in word:
                singles[token] += n
        if not pairs:
            break

        def score(pair):
            if strategy == "frequency":
                return pairs[pair]
            return pairs[pair] / (singles[pair[0]] * singles[pair[1]])

        best = max(pairs, key=lambda pair: (score(pair), pair))
        merges.append(best)
        if best[0] + best[1] not in tokens:
            tokens.append(best[0] + best[1])
        merged = Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    vocab = {i: s.encode("utf-8") for i, s in enumerate(special_tokens)}
    vocab |= {len(special_tokens) + i: token for i, token in enumerate(tokens)}
    return vocab, merges


@pytest.fixture(scope="module")
def stories_tokenizer(tmp_path_factory) -> Tokenizer:
    path = tmp_path_factory.mktemp("bpe") / "stories.txt"
    path.write_text(STORIES, encoding="utf-8")
    return Tokenizer(*train_bpe(path, 500, [EOT]), [EOT])


# ----------------------------------------------------------------------------- training

@pytest.mark.parametrize("strategy", ["frequency", "likelihood"])
@pytest.mark.parametrize("corpus, vocab_size", [(STORIES, 420), (MULTILINGUAL, 360)],
                         ids=["tinystories", "multilingual"])
def test_training_matches_the_reference_merge_for_merge(tmp_path, corpus, vocab_size, strategy):
    path = tmp_path / "corpus.txt"
    path.write_text(corpus, encoding="utf-8")
    vocab, merges = train_bpe(path, vocab_size, [EOT], strategy=strategy)
    expected_vocab, expected_merges = reference_bpe(corpus, vocab_size, [EOT], strategy)
    assert merges == expected_merges
    assert vocab == expected_vocab


def test_vocabulary_layout_special_tokens_then_bytes_then_merges():
    vocab, merges = train_bpe_from_counts(Counter({b"abab": 3, b"ab": 1}), 259, ["<a>", "<b>"])
    assert vocab[0] == b"<a>" and vocab[1] == b"<b>"
    assert [vocab[2 + i] for i in range(256)] == [bytes([i]) for i in range(256)]
    assert merges == [(b"a", b"b")] and vocab[258] == b"ab"


def test_equal_counts_go_to_the_lexicographically_greatest_pair():
    counts = Counter({b"ab": 5, b"cd": 5, b"ce": 5, b"a b": 1})
    _, merges = train_bpe_from_counts(counts, 256 + 3, [])
    assert merges[:2] == [(b"c", b"e"), (b"c", b"d")]
    # a byte string sorts before its extensions: (b"a", b"bc") > (b"a", b"b")
    _, merges = train_bpe_from_counts(Counter({b"xab": 2, b"yabc": 2}), 256 + 3, [])
    assert merges[0] == (b"a", b"b")


def test_training_never_merges_across_special_tokens(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(("xy" + EOT) * 50 + "z", encoding="utf-8")
    vocab, merges = train_bpe(path, 300, [EOT])
    assert merges == [(b"x", b"y")]  # nothing else: '>' never meets 'x' or 'y'
    assert not any(EOT.encode() in token for i, token in vocab.items() if i > 0)


def test_parallel_counting_matches_serial_counting(tmp_path, monkeypatch):
    monkeypatch.setattr(pretokenize, "PARALLEL_MIN_BYTES", 0)
    with_specials = tmp_path / "stories.txt"
    with_specials.write_text(STORIES * 3, encoding="utf-8")
    without = tmp_path / "udhr.txt"  # no special tokens: cuts fall between letter-space-letter
    without.write_text(MULTILINGUAL * 4, encoding="utf-8")
    for path, specials in ((with_specials, [EOT]), (without, [])):
        text = path.read_text("utf-8")
        cuts = pretokenize.chunk_boundaries(path, 8, specials, window=256)
        assert len(cuts) > 3 and cuts[0] == 0 and cuts[-1] == len(text.encode())
        parallel = pretokenize.count_file(path, specials, processes=2)
        assert parallel == pretokenize.count_texts([text], specials)


def test_truncating_a_long_run_equals_training_to_the_smaller_size():
    counts = pretokenize.count_texts([STORIES], [EOT])
    long = train_bpe_from_counts(counts, 600, [EOT])
    for size in (257, 300, 450):
        assert truncate(*long, size) == train_bpe_from_counts(counts, size, [EOT])


def test_training_stops_when_nothing_is_left_to_merge():
    vocab, merges = train_bpe_from_counts(Counter({b"abc": 1}), 1000, [])
    assert len(merges) == 2 and len(vocab) == 258


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="merge strategy"):
        train_bpe_from_counts(Counter({b"ab": 1}), 300, [], strategy="greedy")


# ----------------------------------------------------------------------------- encoding

def random_text(rng: random.Random, length: int, specials: tuple[str, ...] = ()) -> str:
    """Random Unicode: ASCII, whitespace of every kind, accents, combining marks, Cyrillic,
    Devanagari, CJK, Hangul, emoji, apostrophes and the odd special token."""
    pools = ["abcXYZ019 .,'!?", " \t\n\r\x0b\x0c\xa0\u2028\u3000\u200b", "éüßçøñ",
             "\u0301\u0308\u0327", "приветМИР", "नमस्ते", "中文字漢", "한국어", "😀🎉👍🏽",
             "'s've'll"]
    parts = []
    for _ in range(length):
        roll = rng.random()
        if specials and roll < 0.03:
            parts.append(rng.choice(specials))
        elif roll < 0.08:  # any scalar value at all, surrogates excluded
            code = rng.randrange(0x110000 - 0x800)
            parts.append(chr(code if code < 0xD800 else code + 0x800))
        else:
            parts.append(rng.choice(rng.choice(pools)))
    return "".join(parts)


def test_round_trip_on_random_unicode(stories_tokenizer):
    rng = random.Random(0)
    for _ in range(300):
        text = random_text(rng, rng.randrange(0, 80), (EOT,))
        ids = stories_tokenizer.encode(text)
        assert stories_tokenizer.decode(ids) == text


def test_encoding_replays_the_training_segmentation(stories_tokenizer):
    tok = stories_tokenizer
    ids = tok.encode("Once upon a time")
    assert tok.decode(ids) == "Once upon a time"
    assert len(ids) < len("Once upon a time")  # merges were applied
    assert all(tok.vocab[i] in {t for t in tok.vocab.values()} for i in ids)


def test_special_tokens_are_single_ids_and_longest_match_wins():
    vocab, merges = train_bpe_from_counts(Counter({b"ab": 4}), 257, [])
    tok = Tokenizer(vocab, merges, ["<|a|>", "<|a|><|b|>"])
    ids = tok.encode("x<|a|><|b|>y<|a|>z<|b|>")
    assert tok.special_ids["<|a|><|b|>"] in ids and tok.special_ids["<|a|>"] in ids
    assert ids.count(tok.special_ids["<|a|><|b|>"]) == 1
    assert tok.decode(ids) == "x<|a|><|b|>y<|a|>z<|b|>"
    assert tok.encode("<|a|>") == [tok.special_ids["<|a|>"]]
    # without the special tokens declared, the same text is ordinary bytes
    assert len(Tokenizer(vocab, merges).encode("<|a|>")) == 5


def test_encode_iterable_equals_encode_whatever_the_chunks(stories_tokenizer):
    rng = random.Random(1)
    texts = [STORIES[:3000], random_text(rng, 400, (EOT,)), "a  \n\n  b" * 20,
             "x" + EOT[:5], EOT[:5] + EOT + "  ", "word" * 300]
    for text in texts:
        expected = stories_tokenizer.encode(text)
        for _ in range(5):
            cuts = sorted(rng.sample(range(len(text) + 1), min(len(text), rng.randrange(1, 40))))
            chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
            assert list(stories_tokenizer.encode_iterable(chunks)) == expected


def test_encode_iterable_streams_a_file_in_bounded_memory(tmp_path, stories_tokenizer):
    path = tmp_path / "big.txt"
    path.write_text(STORIES * 20, encoding="utf-8")
    seen_buffers = []
    original = stories_tokenizer._release_point

    def spy(text):
        seen_buffers.append(len(text))
        return original(text)

    stories_tokenizer._release_point = spy
    try:
        with open(path, encoding="utf-8") as f:
            ids = list(stories_tokenizer.encode_iterable(f))
    finally:
        del stories_tokenizer._release_point
    assert ids == stories_tokenizer.encode(STORIES * 20)
    assert max(seen_buffers) < 2000  # one line plus a short held-back tail, never the file


def test_decoding_invalid_utf8_gives_replacement_characters(stories_tokenizer):
    tok = stories_tokenizer
    byte_id = {tok.vocab[i]: i for i in tok.vocab}
    broken = [byte_id[b"\xe4"], byte_id[b"a"], byte_id[b"\xff"]]
    assert tok.decode(broken) == "\ufffda\ufffd"
    euro = tok.encode("€")
    assert tok.decode(euro[:-1] if len(euro) > 1 else [byte_id[b"\xe2"]]).startswith("\ufffd")


def test_tokens_are_shown_with_visible_whitespace():
    assert show_token(b" the\n") == "␣the⏎"
    assert show_token("é".encode()[:1]) == "\ufffd"  # half a character


def test_encoding_caches_pretokens(stories_tokenizer):
    tok = stories_tokenizer
    tok._cache.clear()
    first = tok.encode("the cat sat on the mat")
    assert " cat" in tok._cache and len(tok._cache) == 6  # "the" and " the" differ
    assert tok.encode("the cat sat on the mat") == first


# ----------------------------------------------------------------------------- BPE-dropout

def test_bpe_dropout_keeps_the_text_and_splits_more(stories_tokenizer):
    text = STORIES[:1500].replace(EOT, "")
    plain = stories_tokenizer.encode(text)
    assert stories_tokenizer.with_dropout(0.0).encode(text) == plain
    single_bytes = stories_tokenizer.with_dropout(1.0, seed=0).encode(text)
    assert len(single_bytes) == len(text.encode("utf-8"))
    lengths = []
    for p in (0.1, 0.5):
        tok = stories_tokenizer.with_dropout(p, seed=3)
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        lengths.append(len(ids))
    assert len(plain) < lengths[0] < lengths[1] < len(single_bytes)
    again = stories_tokenizer.with_dropout(0.5, seed=3).encode(text)
    assert again == stories_tokenizer.with_dropout(0.5, seed=3).encode(text)  # seeded


def test_merge_strategies_are_selected_by_name(tmp_path):
    from algorithms.tokenization import MERGE_STRATEGIES, train_tokenizer

    path = tmp_path / "stories.txt"
    path.write_text(STORIES, encoding="utf-8")
    text = STORIES[:800].replace(EOT, "")
    lengths = {}
    for strategy in MERGE_STRATEGIES:
        tok = train_tokenizer(path, 400, [EOT], strategy=strategy, dropout=0.3, seed=0)
        assert tok.decode(tok.encode(text)) == text
        lengths[strategy] = len(tok.encode(text))
    assert tok.dropout == 0.3 and train_tokenizer(path, 300, [EOT], "pmi").dropout == 0.0
    assert lengths["frequency"] < lengths["dropout"]
    assert lengths["frequency"] < lengths["likelihood"]


# ----------------------------------------------------------------------------- files

def test_save_and_load_round_trip_and_hf_reads_the_files(tmp_path, stories_tokenizer):
    tok = stories_tokenizer
    vocab_path, merges_path = tmp_path / "vocab.json", tmp_path / "merges.txt"
    tok.save(vocab_path, merges_path)
    loaded = Tokenizer.from_files(vocab_path, merges_path, [EOT])
    assert loaded.vocab == tok.vocab and loaded.merges == tok.merges
    text = STORIES[:2000] + EOT + "naïve café 中文 😀"
    assert loaded.encode(text) == tok.encode(text)

    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers

    hf = HFTokenizer(models.BPE.from_file(str(vocab_path), str(merges_path)))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.add_special_tokens([EOT])
    assert hf.encode(text).ids == tok.encode(text)


# ----------------------------------------------------------------------------- against HF

def test_compression_is_within_a_few_percent_of_hf_byte_level_bpe(tmp_path):
    from algorithms.tokenization import corpora
    from algorithms.tokenization.references import train as train_method

    lines = corpora.domain("prose", "train", 150_000) + corpora.domain("science", "train", 150_000)
    held_out = corpora.domain("prose", "test", 40_000) + corpora.domain("science", "test", 40_000)
    n_bytes = corpora.n_bytes(held_out)
    ratio = {}
    for method in ("forge_bpe", "hf_bpe"):
        trained = train_method(method, lines, [2000])[2000]
        ratio[method] = n_bytes / sum(map(len, trained.encode_lines(held_out)))
    assert ratio["forge_bpe"] == pytest.approx(ratio["hf_bpe"], rel=0.02)
