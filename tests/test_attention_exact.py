"""Every exact attention variant equals PyTorch's scaled_dot_product_attention with the
equivalent mask: outputs and gradients, float64, odd sizes, with and without a causal mask."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from algorithms.attention import (
    AdditiveAttention,
    BigBirdAttention,
    BlockLocalAttention,
    ChunkedAttention,
    FlashAttention,
    FlashAttentionModule,
    LongformerAttention,
    MultiplicativeAttention,
    ScaledDotProductAttention,
    SlidingWindowAttention,
    grouped_query_attention,
    scaled_dot_product_attention,
)
from algorithms.attention.profiling import LiveTensorMeter

ATOL = 1e-10  # float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _inputs(lead=(2, 3), q_len=37, k_len=37, dim=12, v_dim=10, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(*lead, q_len, dim, generator=generator, dtype=dtype, requires_grad=True)
    k = torch.randn(*lead, k_len, dim, generator=generator, dtype=dtype, requires_grad=True)
    v = torch.randn(*lead, k_len, v_dim, generator=generator, dtype=dtype, requires_grad=True)
    return q, k, v


def _assert_matches(out, ref, inputs, atol=ATOL):
    """Same output, and the same gradients of a random projection of it w.r.t. every input."""
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=atol, rtol=0)
    grad_out = torch.randn_like(ref)
    ours = torch.autograd.grad(out, inputs, grad_out)
    theirs = torch.autograd.grad(ref, inputs, grad_out)
    for mine, expected, name in zip(ours, theirs, "qkv"):
        torch.testing.assert_close(mine, expected, atol=atol, rtol=0, msg=f"d{name}")


EXACT = {
    "dense": lambda: ScaledDotProductAttention(),
    "sliding_window": lambda: SlidingWindowAttention(window=5),
    "sliding_window_wide_blocks": lambda: SlidingWindowAttention(window=4, block=9),
    "block_local": lambda: BlockLocalAttention(block=7),
    "longformer": lambda: LongformerAttention(window=4, global_tokens=(0, 11, 36)),
    "bigbird": lambda: BigBirdAttention(block=5, n_random=2, n_global=3, seed=1),
    "chunked": lambda: ChunkedAttention(query_chunk=10, key_chunk=8),
    "chunked_no_checkpoint": lambda: ChunkedAttention(11, 6, checkpointing=False),
    "flash": lambda: FlashAttentionModule(block_q=8, block_k=12),
    "flash_one_block": lambda: FlashAttentionModule(block_q=64, block_k=64),
}


@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_variant_matches_sdpa_with_its_mask(name, is_causal):
    attention = EXACT[name]()
    q, k, v = _inputs(q_len=37, k_len=37)
    mask = attention.mask(37, 37, is_causal)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                               is_causal=is_causal and mask is None)
    _assert_matches(attention(q, k, v, is_causal), reference, (q, k, v))


@pytest.mark.parametrize("name", ["sliding_window", "block_local", "longformer", "bigbird"])
def test_sparse_patterns_are_sparse_and_include_the_diagonal(name):
    mask = EXACT[name]().mask(64, 64)
    assert mask.diagonal().all()
    assert 0.05 < mask.float().mean() < 0.8


def test_longformer_global_tokens_see_and_are_seen_by_everyone():
    mask = LongformerAttention(window=2, global_tokens=(3,)).mask(20, 20)
    assert mask[3].all() and mask[:, 3].all()
    assert not mask[10, 0]  # outside the window, not global


def test_bigbird_random_blocks_are_outside_the_window_and_fixed_by_the_seed():
    attention = BigBirdAttention(block=4, n_random=2, n_global=4, seed=3)
    blocks = attention.random_blocks(48)
    rows = torch.arange(len(blocks))[:, None]
    assert ((blocks - rows).abs() > 1).all()
    assert torch.equal(blocks, BigBirdAttention(block=4, n_random=2, seed=3).random_blocks(48))
    causal = attention.random_blocks(48, is_causal=True)
    assert ((causal < rows - 1) | (causal == -1)).all()


@pytest.mark.parametrize("q_len,k_len", [(23, 41), (41, 23)])
@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("name", ["dense", "chunked", "flash"])
def test_cross_attention_lengths(name, q_len, k_len, is_causal):
    """Lq ≠ Lk, with SDPA's top-left causal alignment."""
    q, k, v = _inputs(q_len=q_len, k_len=k_len)
    reference = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    _assert_matches(EXACT[name]()(q, k, v, is_causal), reference, (q, k, v))


def test_reference_with_boolean_mask_and_bias_matches_sdpa():
    q, k, v = _inputs(q_len=19, k_len=23)
    generator = torch.Generator().manual_seed(1)
    mask = torch.rand(19, 23, generator=generator) > 0.3
    mask[:, 0] = True  # no empty rows
    bias = torch.randn(3, 19, 23, generator=generator, dtype=torch.float64)
    ours = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias)
    float_mask = bias.masked_fill(~mask, float("-inf"))
    _assert_matches(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=float_mask),
                    (q, k, v))


def test_fused_module_is_sdpa():
    q, k, v = _inputs()
    _assert_matches(ScaledDotProductAttention(fused=True)(q, k, v, True),
                    F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v))


@pytest.mark.parametrize("n_kv", [1, 2, 6], ids=["mqa", "gqa", "mha"])
@pytest.mark.parametrize("is_causal", [False, True], ids=["full", "causal"])
def test_grouped_query_attention_matches_sdpa(n_kv, is_causal):
    generator = torch.Generator().manual_seed(2)
    q = torch.randn(2, 6, 29, 8, generator=generator, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, n_kv, 29, 8, generator=generator, dtype=torch.float64,
                    requires_grad=True)
    v = torch.randn(2, n_kv, 29, 8, generator=generator, dtype=torch.float64,
                    requires_grad=True)
    # SDPA needs the shared heads copied: head i uses key/value head i // (6 / n_kv)
    repeat = 6 // n_kv
    reference = F.scaled_dot_product_attention(q, k.repeat_interleave(repeat, dim=1),
                                               v.repeat_interleave(repeat, dim=1),
                                               is_causal=is_causal)
    _assert_matches(grouped_query_attention(q, k, v, is_causal), reference, (q, k, v))


def test_multiplicative_general_starts_as_scaled_dot_product_and_dot_is_unscaled():
    q, k, v = _inputs()
    general = MultiplicativeAttention(12, "general").double()
    assert torch.allclose(general.W_a, torch.eye(12, dtype=torch.float64) / 12 ** 0.5)
    with torch.no_grad():  # the float32 initial value, made exact in float64
        general.W_a.copy_(torch.eye(12, dtype=torch.float64) / 12 ** 0.5)
    _assert_matches(general(q, k, v, True), F.scaled_dot_product_attention(q, k, v,
                                                                           is_causal=True),
                    (q, k, v))
    dot = MultiplicativeAttention(12, "dot")
    _assert_matches(dot(q, k, v), F.scaled_dot_product_attention(q, k, v, scale=1.0), (q, k, v))


def test_additive_attention_matches_the_bahdanau_formula_pair_by_pair():
    torch.manual_seed(0)
    attention = AdditiveAttention(head_dim=6, attn_dim=5).double()
    q, k, v = _inputs(lead=(2,), q_len=4, k_len=7, dim=6, v_dim=3)
    out = attention(q, k, v)
    W, U, v_a = attention.W_q.weight, attention.W_k, attention.v_a.weight[0]
    expected = torch.zeros_like(out)
    for b in range(2):
        for i in range(4):
            scores = torch.stack([v_a @ torch.tanh(W @ q[b, i] + U(k[b, j])) for j in range(7)])
            expected[b, i] = scores.softmax(0) @ v[b]
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    causal = attention(q, k, v, is_causal=True)
    torch.testing.assert_close(causal[:, 0], v[:, 0], atol=ATOL, rtol=0)  # row 0 sees key 0


# ----------------------------------------------------------------------------- FlashAttention

@pytest.mark.parametrize("lead", [(), (3,), (2, 1, 3)], ids=["no-batch", "1-dim", "3-dims"])
def test_flash_apply_takes_any_leading_dimensions(lead):
    q, k, v = _inputs(lead=lead, q_len=33, k_len=33, dim=8, v_dim=8)
    out = FlashAttention.apply(q, k, v, True)
    _assert_matches(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v))


def test_flash_float32_within_float_tolerance():
    q, k, v = _inputs(q_len=300, k_len=300, dim=32, v_dim=32, dtype=torch.float32)
    out = FlashAttention.apply(q, k, v, False)
    _assert_matches(out, F.scaled_dot_product_attention(q, k, v), (q, k, v), atol=2e-5)


def test_flash_saves_only_inputs_output_and_logsumexp():
    """No q_len × k_len tensor survives to the backward pass."""
    q, k, v = _inputs(lead=(2,), q_len=50, k_len=70, dim=4, v_dim=4)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = FlashAttention.apply(q, k, v, False)
    shapes = sorted(tuple(t.shape) for t in saved)
    assert shapes == sorted([(2, 50, 4), (2, 70, 4), (2, 70, 4), (2, 50, 4), (2, 50)])
    lse = next(t for t in saved if t.shape == (2, 50))
    expected = torch.logsumexp(q @ k.transpose(-2, -1) / 2.0, dim=-1)  # scale 1/√4
    torch.testing.assert_close(lse, expected.detach(), atol=ATOL, rtol=0)
    assert any(t is out for t in saved)


def test_flash_and_chunked_never_hold_the_score_matrix():
    q, k, v = _inputs(lead=(1,), q_len=512, k_len=512, dim=16, v_dim=16, dtype=torch.float32)
    scores_bytes = 512 * 512 * 4

    def peak(fn):
        with LiveTensorMeter() as meter:
            out = fn(q, k, v, False)
            torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
        return meter.peak

    assert peak(ScaledDotProductAttention()) >= 2 * scores_bytes  # scores and weights
    assert peak(FlashAttentionModule(64, 64)) < scores_bytes / 2
    assert peak(ChunkedAttention(64, 64)) < scores_bytes / 2


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
def test_triton_kernel_in_the_interpreter_matches_sdpa():
    """The Triton kernels run on the CPU under TRITON_INTERPRET=1 (no GPU needed)."""
    code = """
import torch, torch.nn.functional as F
from algorithms.attention.flash_triton import TritonFlashAttention
torch.manual_seed(0)
cases = [(n_q, n_k, 16) for n_q, n_k in ((70, 70), (33, 90), (90, 33))] + [(70, 45, 128)]
for causal in (False, True):
    for n_q, n_k, d in cases:  # head dim 128 in fp32 takes the 32 x 32 tiles
        q = torch.randn(2, 3, n_q, d, requires_grad=True)
        k = torch.randn(2, 3, n_k, d, requires_grad=True)
        v = torch.randn(2, 3, n_k, d, requires_grad=True)
        out = TritonFlashAttention.apply(q, k, v, causal, None)
        ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        g = torch.randn_like(ref)
        for a, b in zip((out, *torch.autograd.grad(out, (q, k, v), g)),
                        (ref, *torch.autograd.grad(ref, (q, k, v), g))):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
print("ok")
"""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


# shared memory per thread block (opt-in maximum), CUDA C Programming Guide, Table 21
SHARED_MEMORY_PER_BLOCK = {86: 99 * 1024, 90: 227 * 1024}  # RTX 30xx/A10 class; H100


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
@pytest.mark.parametrize("arch", sorted(SHARED_MEMORY_PER_BLOCK))
def test_triton_kernels_compile_for_gpus_within_their_shared_memory(arch):
    """No GPU here, but Triton compiles to PTX and cubin (its bundled ptxas) for a named target:
    every kernel, at the tile sizes the wrapper picks, fits the target's shared memory."""
    code = f"""
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, compile
from algorithms.attention import flash_triton as ft
for dtype, size, head_dim in (("fp32", 4, 128), ("fp32", 4, 64), ("bf16", 2, 128)):
    block_m, block_n = ft.block_sizes(head_dim, size)
    const = {{"IS_CAUSAL": True, "BLOCK_M": block_m, "BLOCK_N": block_n, "HEAD_DIM": head_dim}}
    for kernel in (ft._forward, ft._backward_dkdv, ft._backward_dq):
        signature = {{name: "constexpr" if name in const else "fp32" if name == "scale"
                     else "i32" if name.startswith("n_") else "*fp32" if name in ("LSE", "DELTA")
                     else "*" + dtype for name in kernel.arg_names}}
        compiled = compile(ASTSource(kernel, signature, const), target=GPUTarget("cuda", {arch}, 32))
        assert compiled.asm["cubin"], kernel
        print(kernel.fn.__name__, dtype, head_dim, compiled.metadata.shared)
"""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TRITON_DEFAULT_FP_FUSION": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines()]
    assert len(rows) == 9
    for name, dtype, head_dim, shared in rows:
        assert 0 < int(shared) <= SHARED_MEMORY_PER_BLOCK[arch], (name, dtype, head_dim, shared)


def test_triton_module_parses_and_is_not_imported_without_cuda():
    source = Path(__file__).resolve().parents[1] / "algorithms/attention/flash_triton.py"
    compile(source.read_text(), str(source), "exec")
    code = ("import sys, torch, algorithms.attention as a; "
            "q = torch.randn(1, 8, 16); a.flash_attention(q, q, q); "
            "print('algorithms.attention.flash_triton' in sys.modules)")
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the kernel is used")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=source.parents[2])
    assert result.stdout.strip() == "False"
