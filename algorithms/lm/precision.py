"""Mixed precision beyond bfloat16 autocast: FP8 matrix products with per-tensor scaling, and
the loss scaler that float16 training needs.

Micikevicius et al. (2022), "FP8 Formats for Deep Learning", propose two 8-bit encodings:

* E4M3 (4 exponent bits, bias 7, 3 mantissa bits) for weights and activations. It has no
  infinities and one NaN mantissa pattern, which frees the top exponent for finite values: the
  largest is 1.75 · 2⁸ = 448. Round to nearest leaves a relative error of at most 2⁻⁴ on a
  normal number (half of the 2⁻³ spacing of 3 mantissa bits); below 2⁻⁶ the numbers are
  subnormal, with a fixed spacing of 2⁻⁹.
* E5M2 (5 exponent bits, bias 15, 2 mantissa bits; IEEE-like infinities and NaNs, largest
  1.75 · 2¹⁵ = 57344) for gradients, which need range more than precision (relative error
  at most 2⁻³).

Neither has the range of a tensor of activations or gradients, so each tensor is scaled into
it first, with one scale per tensor:

    s = amax(|x|) / max_fp8,    q = round_fp8(x / s),    x ≈ s · q

which puts the largest magnitude on the format's largest finite value. The scale here is
computed from the tensor being cast (just-in-time scaling), not from a history of earlier
amaxes. A product of two such tensors is s_a · s_b · (q_a q_b), so the matrix product runs on
the 8-bit values and the scales are applied once to its output (``torch._scaled_mm`` on GPUs
with FP8 tensor cores, compute capability 8.9 and up).

Elsewhere, :class:`Fp8Linear` *emulates* that product: it dequantizes (s · q, rounded to
float32: a relative 2⁻²⁴) and multiplies in float32, so its error is FP8's rounding, seen to
float32's precision: it measures the numerics of FP8 training on any machine, not its speed
(it is slower than a plain Linear).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

E4M3 = torch.float8_e4m3fn
E5M2 = torch.float8_e5m2


def quantize_fp8(x: Tensor, dtype: torch.dtype = E4M3) -> tuple[Tensor, Tensor]:
    """``(q, scale)``: q = round(x / scale) in ``dtype``, scale = amax(|x|) / max(dtype) as a
    float32 scalar (1 for an all-zero tensor), so that x ≈ scale · q.

    Values are clamped to ±max before the cast: rounding can push amax / scale just past max,
    and E4M3 has no infinity to saturate to.
    """
    largest = torch.finfo(dtype).max
    amax = x.detach().abs().amax().float()
    scale = torch.where(amax > 0, (amax / largest).clamp(min=torch.finfo(torch.float32).tiny),
                        torch.ones_like(amax))
    q = (x.float() / scale).clamp(-largest, largest).to(dtype)
    return q, scale


def dequantize_fp8(q: Tensor, scale: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """scale · q, computed in float32 and returned in ``dtype``."""
    return (q.float() * scale).to(dtype)


def round_fp8(x: Tensor, dtype: torch.dtype = E4M3) -> Tensor:
    """x rounded to the values that per-tensor-scaled ``dtype`` can hold, in x's dtype."""
    return dequantize_fp8(*quantize_fp8(x, dtype), dtype=x.dtype)


def scaled_mm_supported(device: torch.device) -> bool:
    """Whether ``torch._scaled_mm`` runs on ``device``'s FP8 tensor cores: CUDA with compute
    capability 8.9 (Ada) or above (Hopper, Blackwell)."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


class _Fp8Matmul(torch.autograd.Function):
    """y = (s_x q_x)(s_w q_w)ᵀ with q_x, q_w in E4M3, and its straight-through backward.

    Backward takes the rounding as the identity (the straight-through estimator, Bengio et al.
    2013): the gradients are those of the product of the *rounded* operands, g Ŵ and gᵀ x̂,
    computed in float32. The output gradient g is first rounded to E5M2 when ``grad_e5m2``:
    the paper's format for gradients. Saved for backward are the 8-bit operands and their
    scales: the input in a quarter of float32's bytes, and an 8-bit copy of the weight.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, out_dtype: torch.dtype, scaled_mm: bool,
                grad_e5m2: bool) -> Tensor:
        x_q, x_scale = quantize_fp8(x)
        w_q, w_scale = quantize_fp8(weight)
        if scaled_mm:
            # row-major (M, K) times column-major (K, N): w_q is (N, K) row-major, so w_qᵀ is
            # the column-major operand the kernel wants without a copy
            out = torch._scaled_mm(x_q, w_q.t(), scale_a=x_scale, scale_b=w_scale,
                                   out_dtype=out_dtype)
            out = out[0] if isinstance(out, tuple) else out  # torch < 2.5 also returned amax
        else:
            out = (dequantize_fp8(x_q, x_scale) @ dequantize_fp8(w_q, w_scale).t()).to(out_dtype)
        ctx.save_for_backward(x_q, x_scale, w_q, w_scale)
        ctx.dtypes = (x.dtype, weight.dtype)
        ctx.grad_e5m2 = grad_e5m2
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        x_q, x_scale, w_q, w_scale = ctx.saved_tensors
        x_dtype, w_dtype = ctx.dtypes
        g = round_fp8(grad.float(), E5M2) if ctx.grad_e5m2 else grad.float()
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ dequantize_fp8(w_q, w_scale)).to(x_dtype)
        if ctx.needs_input_grad[1]:
            grad_w = (g.t() @ dequantize_fp8(x_q, x_scale)).to(w_dtype)
        return grad_x, grad_w, None, None, None


class Fp8Linear(nn.Module):
    """A Linear layer whose product runs in FP8: input and weight each cast to E4M3 with one
    scale per tensor (per call), the output gradient to E5M2 (``grad_e5m2``).

    It takes over ``linear``'s own ``weight`` and ``bias`` parameters: they stay in their
    precision (float32 master weights, Micikevicius et al. 2018, §3.1), the optimizer and any
    tying see the same tensors, and the state-dict keys do not change. The bias is added in
    the output's precision, unquantized.

    ``emulate``: None picks ``torch._scaled_mm`` where :func:`scaled_mm_supported` and both
    feature counts are multiples of 16 (the kernel's requirement), else the float32 emulation;
    True always emulates; False demands the kernel. Under autocast the output has autocast's
    dtype, as a Linear's would; otherwise the input's.
    """

    def __init__(self, linear: nn.Linear, grad_e5m2: bool = True, emulate: bool | None = None):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.grad_e5m2 = grad_e5m2
        self.emulate = emulate

    def uses_scaled_mm(self, device: torch.device) -> bool:
        """Whether a forward on ``device`` runs ``torch._scaled_mm`` (False: the emulation)."""
        fits = (scaled_mm_supported(device) and self.in_features % 16 == 0
                and self.out_features % 16 == 0)
        if self.emulate is False and not fits:
            raise RuntimeError(f"torch._scaled_mm needs CUDA compute capability >= 8.9 and "
                               f"feature counts divisible by 16; got {device} and "
                               f"{self.in_features} -> {self.out_features}")
        return fits and not self.emulate

    def forward(self, x: Tensor) -> Tensor:
        kind = x.device.type
        autocast = torch.is_autocast_enabled(kind)
        out_dtype = torch.get_autocast_dtype(kind) if autocast else x.dtype
        scaled_mm = self.uses_scaled_mm(x.device) and out_dtype in (
            torch.float32, torch.bfloat16, torch.float16)
        with torch.autocast(kind, enabled=False):  # the product's precision is chosen here
            out = _Fp8Matmul.apply(x.reshape(-1, self.in_features), self.weight, out_dtype,
                                   scaled_mm, self.grad_e5m2)
            out = out.view(*x.shape[:-1], self.out_features)
            if self.bias is not None:
                out = out + self.bias.to(out_dtype)
        return out

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, grad_e5m2={self.grad_e5m2}")


def convert_to_fp8(model: nn.Module, skip: tuple[str, ...] = ("lm_head",), **options) -> int:
    """Replace, in place, every ``nn.Linear`` below ``model`` by an :class:`Fp8Linear` over the
    same parameters (``options`` go to it); returns how many were replaced.

    A Linear is kept when an entry of ``skip`` is one of the dot-separated parts of its
    qualified name (``"lm_head"``, ``"mlp"``, ``"0"``). The output projection is kept by
    default: its logits feed a softmax over the whole vocabulary. Only exact ``nn.Linear``
    instances are replaced: a subclass may read its weight without calling its forward.
    """
    replaced: dict[int, Fp8Linear] = {}  # a Linear shared by two parents is replaced once
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            qualified = f"{parent_name}.{name}" if parent_name else name
            if type(child) is not nn.Linear or set(skip) & set(qualified.split(".")):
                continue
            if id(child) not in replaced:
                replaced[id(child)] = Fp8Linear(child, **options)
            setattr(parent, name, replaced[id(child)])
    return len(replaced)
