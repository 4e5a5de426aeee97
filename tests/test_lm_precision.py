"""FP8 with per-tensor scaling: the rounding error of each format, the emulated product against
float32 and against PyTorch's own FP8 matmul, straight-through gradients, model conversion."""

import pytest
import torch
from torch import nn

from algorithms.lm.config import LMConfig
from algorithms.lm.model import LanguageModel
from algorithms.lm.precision import (
    E4M3,
    E5M2,
    Fp8Linear,
    convert_to_fp8,
    dequantize_fp8,
    quantize_fp8,
    round_fp8,
    scaled_mm_supported,
)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


@pytest.mark.parametrize("dtype, mantissa_bits, smallest_normal",
                         [(E4M3, 3, 2.0 ** -6), (E5M2, 2, 2.0 ** -14)])
def test_round_trip_error_is_half_a_mantissa_step(dtype, mantissa_bits, smallest_normal):
    x = torch.randn(4096, generator=torch.Generator().manual_seed(0)) * 3
    q, scale = quantize_fp8(x, dtype)
    assert q.dtype == dtype and scale.dtype == torch.float32 and scale.dim() == 0
    # the largest magnitude lands on the format's largest value
    assert float(q.float().abs().max()) == torch.finfo(dtype).max
    error = (dequantize_fp8(q, scale) - x).abs()
    normal = (x / scale).abs() >= smallest_normal
    assert torch.all(error[normal] <= 2.0 ** -(mantissa_bits + 1) * x[normal].abs())
    # subnormals: half their fixed spacing, 2^(−6−3) for E4M3, in units of the scale
    spacing = smallest_normal * 2.0 ** -mantissa_bits
    assert torch.all(error[~normal] <= spacing / 2 * scale)
    assert error[normal].max() > 2.0 ** -(mantissa_bits + 3) * x[normal].abs().max()  # rounded


def test_quantize_guards_an_all_zero_tensor():
    q, scale = quantize_fp8(torch.zeros(3, 4))
    assert float(scale) == 1.0 and torch.equal(dequantize_fp8(q, scale), torch.zeros(3, 4))
    assert torch.equal(round_fp8(torch.zeros(2, dtype=torch.bfloat16)),
                       torch.zeros(2, dtype=torch.bfloat16))


def linear_and_input(bias: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    linear = nn.Linear(64, 48, bias=bias)
    x = torch.randn(5, 7, 64, requires_grad=True)
    return linear, x


def test_fp8_linear_is_the_product_of_the_rounded_operands():
    linear, x = linear_and_input()
    fp8 = Fp8Linear(linear)
    assert fp8.weight is linear.weight and fp8.bias is linear.bias
    out = fp8(x)
    expected = round_fp8(x) @ round_fp8(linear.weight).t() + linear.bias
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    # FP8's error: each operand rounded by up to 2^-4 (relative), so the product is close to,
    # but not equal to, float32's
    reference = linear(x)
    assert 1e-3 < relative_error(out, reference) < 2.0 ** -3


def test_fp8_linear_gradients_are_straight_through_with_an_e5m2_output_gradient():
    linear, x = linear_and_input()
    fp8 = Fp8Linear(linear)
    g = torch.randn(5, 7, 48)
    fp8(x).backward(g)
    fp8_grads = x.grad.clone(), linear.weight.grad.clone(), linear.bias.grad.clone()
    g8 = round_fp8(g, E5M2).reshape(-1, 48)
    torch.testing.assert_close(fp8_grads[0], (g8 @ round_fp8(linear.weight)).view_as(x),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fp8_grads[1], g8.t() @ round_fp8(x.detach()).reshape(-1, 64),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fp8_grads[2], g.sum((0, 1)))  # the bias is not quantized

    x.grad, linear.weight.grad = None, None
    linear(x).backward(g)
    assert relative_error(fp8_grads[0], x.grad) < 2.0 ** -3
    assert relative_error(fp8_grads[1], linear.weight.grad) < 2.0 ** -3

    x.grad = None  # without E5M2 the output gradient passes unrounded
    Fp8Linear(linear, grad_e5m2=False)(x).backward(g)
    torch.testing.assert_close(x.grad, g @ round_fp8(linear.weight), rtol=1e-5, atol=1e-6)


def test_emulation_matches_torch_fp8_matmul():
    """PyTorch's own ``_scaled_mm`` (CPU kernel where this build has one) on the same 8-bit
    operands and scales: the emulation computes the same product."""
    linear, x = linear_and_input(bias=False)
    x_q, x_scale = quantize_fp8(x.detach().reshape(-1, 64))
    w_q, w_scale = quantize_fp8(linear.weight.detach())
    try:
        kernel = torch._scaled_mm(x_q, w_q.t(), scale_a=x_scale, scale_b=w_scale,
                                  out_dtype=torch.float32)
    except (RuntimeError, NotImplementedError) as error:
        pytest.skip(f"no CPU _scaled_mm in this build: {error}")
    kernel = kernel[0] if isinstance(kernel, tuple) else kernel
    emulated = Fp8Linear(linear)(x.detach()).reshape(-1, 48)
    torch.testing.assert_close(emulated, kernel, rtol=1e-5, atol=1e-5)


def test_fp8_linear_under_autocast_returns_autocast_dtype():
    linear, x = linear_and_input()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = Fp8Linear(linear)(x)
    assert out.dtype == torch.bfloat16
    assert relative_error(out.float(), Fp8Linear(linear)(x)) < 2.0 ** -7


def test_emulation_is_chosen_off_fp8_hardware():
    linear, x = linear_and_input()
    if not scaled_mm_supported(x.device):
        assert not Fp8Linear(linear).uses_scaled_mm(x.device)
        with pytest.raises(RuntimeError, match="_scaled_mm"):
            Fp8Linear(linear, emulate=False)(x)


def test_convert_to_fp8_swaps_linears_but_the_head():
    torch.manual_seed(0)
    config = LMConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=2, max_seq_len=32)
    model = LanguageModel(config)
    idx = torch.randint(0, 64, (2, 16))
    targets = torch.roll(idx, -1, dims=1)
    with torch.no_grad():
        keys, loss = list(model.state_dict()), float(model.loss(idx, targets))
    assert convert_to_fp8(model) == 7 * config.n_layers  # q, k, v, o, gate, up, down
    assert type(model.lm_head) is nn.Linear
    assert isinstance(model.model.layers[1].mlp.down_proj, Fp8Linear)
    assert list(model.state_dict()) == keys
    fp8_loss = model.loss(idx, targets)
    assert abs(float(fp8_loss.detach()) - loss) < 0.05
    fp8_loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert convert_to_fp8(model) == 0  # nothing left to convert

    again = LanguageModel(config)
    assert convert_to_fp8(again, skip=("lm_head", "mlp")) == 4 * config.n_layers


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_scaled_mm_on_the_gpu_matches_the_emulation():
    linear, x = linear_and_input()
    linear, x = linear.cuda(), x.detach().cuda().requires_grad_(True)
    kernel, emulated = Fp8Linear(linear), Fp8Linear(linear, emulate=True)
    assert kernel.uses_scaled_mm(x.device) and not emulated.uses_scaled_mm(x.device)
    out = kernel(x)
    # same 8-bit products; the tensor cores accumulate in their own order and width
    assert relative_error(out, emulated(x)) < 1e-3
    out.sum().backward()
    assert torch.isfinite(linear.weight.grad).all() and torch.isfinite(x.grad).all()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert kernel(x).dtype == torch.bfloat16
