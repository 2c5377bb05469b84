"""The PyTorch calls an exercise may forbid, named once per concept and reused by every chapter.

A :class:`Forbidden` set holds dotted Python names (seen by the worker's TorchFunctionMode) and
ATen op names (seen by the profiler, which catches ``torch.ops.aten.*`` and disabled torch-function
handling). Sets combine with ``|``: ``Exercise(forbidden=LOG_SOFTMAX | SOFTMAX, ...)``. A name that
this torch does not have is ignored where it is looked up, so the sets may list every spelling.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Forbidden:
    functions: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()

    def __or__(self, other: "Forbidden") -> "Forbidden":
        return Forbidden(tuple(dict.fromkeys(self.functions + other.functions)),
                         tuple(dict.fromkeys(self.ops + other.ops)))

    def __bool__(self) -> bool:
        return bool(self.functions or self.ops)


NOTHING = Forbidden()


def _spellings(name: str, *, tensor=True, special=True, functional=True) -> tuple[str, ...]:
    """torch.NAME and the other public spellings of one function."""
    out = [f"torch.{name}"]
    out += [f"torch.nn.functional.{name}"] if functional else []
    out += [f"torch.Tensor.{name}"] if tensor else []
    out += [f"torch.special.{name}"] if special else []
    return tuple(out)


# --------------------------------------------------------------------------- normalisations
SOFTMAX = Forbidden(_spellings("softmax"),
                    ("aten::softmax", "aten::_softmax", "aten::_safe_softmax",
                     "aten::special_softmax"))
LOG_SOFTMAX = Forbidden(_spellings("log_softmax"),
                        ("aten::log_softmax", "aten::_log_softmax", "aten::special_log_softmax"))
LOGSUMEXP = Forbidden(_spellings("logsumexp", functional=False),
                      ("aten::logsumexp", "aten::special_logsumexp"))
CROSS_ENTROPY = Forbidden(
    ("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss",
     "torch.nn.functional.kl_div"),
    ("aten::cross_entropy_loss", "aten::nll_loss", "aten::nll_loss_nd", "aten::nll_loss_forward",
     "aten::nll_loss2d", "aten::nll_loss2d_forward"))
# drawing from a categorical distribution (Chapter 1 samples by inverting the CDF)
SAMPLING = Forbidden(("torch.multinomial", "torch.Tensor.multinomial"), ("aten::multinomial",))
# one-hot codes and cosine similarity (Chapter 3 builds them)
ONE_HOT = Forbidden(("torch.nn.functional.one_hot",), ("aten::one_hot",))
COSINE = Forbidden(("torch.nn.functional.cosine_similarity", "torch.cosine_similarity",
                    "torch.nn.functional.normalize"), ("aten::cosine_similarity",))
# −x log x with 0 at x = 0: the whole entropy but for the sum (Chapter 2)
ENTROPY_TERMS = Forbidden(("torch.special.entr",), ("aten::special_entr",))
LAYER_NORM = Forbidden(("torch.nn.functional.layer_norm", "torch.layer_norm",
                        "torch.nn.functional.group_norm", "torch.native_layer_norm"),
                       ("aten::layer_norm", "aten::native_layer_norm"))
RMS_NORM = Forbidden(("torch.nn.functional.rms_norm", "torch.rms_norm"),
                     ("aten::rms_norm", "aten::_fused_rms_norm"))
ACTIVATIONS = Forbidden(("torch.nn.functional.gelu", "torch._C._nn.gelu",
                         "torch.nn.functional.silu", "torch._C._nn.silu"),
                        ("aten::gelu", "aten::silu"))

# --------------------------------------------------------------------------- attention
ATTENTION = Forbidden(
    ("torch.nn.functional.scaled_dot_product_attention",
     "torch.nn.functional.multi_head_attention_forward"),
    ("aten::scaled_dot_product_attention", "aten::_scaled_dot_product_attention_math",
     "aten::_scaled_dot_product_flash_attention",
     "aten::_scaled_dot_product_flash_attention_for_cpu",
     "aten::_scaled_dot_product_efficient_attention",
     "aten::_scaled_dot_product_cudnn_attention", "aten::_native_multi_head_attention"))
ATTENTION_BACKWARD = Forbidden(
    (), ("aten::_scaled_dot_product_flash_attention_for_cpu_backward",
         "aten::_scaled_dot_product_flash_attention_backward"))
# The Python entry points of nn.MultiheadAttention and nn.TransformerEncoderLayer (no ATen list:
# watching every op of a whole block makes its cases ~10x slower, and both modules reach these
# functions while the monitor is active, which also disables their fused fast path).
ATTENTION_MODULES = Forbidden(("torch.nn.functional.multi_head_attention_forward",
                               "torch._transformer_encoder_layer_fwd",
                               "torch._native_multi_head_attention"))
MATMUL = Forbidden(("torch.matmul", "torch.bmm", "torch.einsum", "torch.Tensor.__matmul__"),
                   ("aten::bmm", "aten::mm", "aten::matmul"))

# --------------------------------------------------------------------------- calculus, algebra
AUTOGRAD = Forbidden(("torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward",
                      "torch.func.grad", "torch.func.vjp", "torch.autograd.functional.vjp",
                      "torch.autograd.functional.jacobian"))
JACOBIAN = Forbidden(("torch.autograd.functional.jacobian", "torch.func.jacrev",
                      "torch.func.jacfwd", "torch.func.vmap"))
LEAST_SQUARES = Forbidden(("torch.lstsq", "torch.linalg.lstsq", "torch.linalg.solve",
                           "torch.linalg.pinv", "torch.pinverse", "torch.linalg.svd"))
FFT = Forbidden(tuple(f"torch.fft.{n}" for n in (
    "fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn",
    "ifftn", "rfftn", "irfftn")) + ("torch.stft", "torch.Tensor.stft"),
    ("aten::_fft_r2c", "aten::_fft_c2c", "aten::_fft_c2r", "aten::fft_rfft", "aten::fft_fft",
     "aten::fft_ifft", "aten::fft_irfft", "aten::stft"))

# --------------------------------------------------------------------------- training
GRAD_CLIP = Forbidden(("torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_norm",
                       "torch.nn.utils.get_total_norm", "torch.nn.utils.clip_grads_with_norm_"))
FLOP_COUNTER = Forbidden(("torch.utils.flop_counter.FlopCounterMode",))
# The backward kernel of log_softmax: a gradient of the cross-entropy taken by autograd.
LOG_SOFTMAX_BACKWARD = Forbidden((), ("aten::_log_softmax_backward_data",))
GLU = Forbidden(("torch.nn.functional.glu",), ("aten::glu",))
LOW_RANK_SVD = Forbidden(("torch.svd_lowrank", "torch.pca_lowrank"))
