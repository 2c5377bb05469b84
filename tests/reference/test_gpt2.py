"""reference.gpt2: the course GPT loaded with a GPT-2 checkpoint gives the logits of
``transformers``' GPT2LMHeadModel with the same weights (every tensor drawn at random, LayerNorm
gains and biases included), for the configurations the loader supports."""

import pytest
import torch

from reference.blocks import GPT
from reference.gpt2 import gpt2_model_config, load_gpt2_weights

transformers = pytest.importorskip("transformers", reason="the optional extra 'practice' "
                                   "(transformers) is not installed")

F64 = torch.float64
CONFIGS = {
    "gelu_new, tied": {},
    "untied head, n_inner 40": {"tie_word_embeddings": False, "n_inner": 40},
    "exact gelu, eps 0.1": {"activation_function": "gelu", "layer_norm_epsilon": 0.1},
    "relu, 3 layers, 2 heads": {"activation_function": "relu", "n_layer": 3, "n_head": 2},
}


def hf_model(overrides, seed=0):
    """A GPT2LMHeadModel in float64 with every parameter drawn afresh (scale 1/sqrt(fan-in),
    gains around 1)."""
    config = transformers.GPT2Config(**{"vocab_size": 37, "n_positions": 12, "n_embd": 16,
                                        "n_layer": 2, "n_head": 4, "bos_token_id": 0,
                                        "eos_token_id": 0, **overrides})
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).double().eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p.shape[0] if p.dim() == 2 and "wte" not in name and "wpe" not in name \
                else p.shape[-1]
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64) / fan_in ** 0.5)
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or "ln_f.weight" in name:
                p.add_(1.0)
    return model, config


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_logits_equal_transformers(overrides):
    model, config = hf_model(overrides)
    ours = load_gpt2_weights(model.state_dict(), config)
    idx = torch.randint(0, config.vocab_size, (3, config.n_positions),
                        generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(idx).logits
        got = ours(idx)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert {p.dtype for p in ours.parameters()} == {F64}
    assert (ours.lm_head.weight is ours.tok_emb.weight) == config.tie_word_embeddings


def test_a_forgotten_transpose_of_the_square_projection_changes_the_logits():
    """Why the test above can fail: the attention output projection is square, so loading it
    without the Conv1D transpose raises nothing; only the logits tell."""
    model, config = hf_model({})
    sd = dict(model.state_dict())
    sd["transformer.h.0.attn.c_proj.weight"] = sd["transformer.h.0.attn.c_proj.weight"].t()
    idx = torch.arange(config.n_positions)[None]
    with torch.no_grad():
        assert not torch.allclose(load_gpt2_weights(sd, config)(idx), model(idx).logits)


def test_the_loaded_model_decodes_with_a_cache_like_transformers():
    """Chapter 10's KV cache on learned positions: logits fed one token at a time equal the
    logits of the whole sequence, and those equal GPT-2's."""
    model, config = hf_model({})
    ours = load_gpt2_weights(model.state_dict(), config)
    idx = torch.randint(0, config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(2))
    cache = ours.make_cache(2)
    with torch.no_grad():
        steps = torch.cat([ours(idx[:, :4], cache=cache)]
                          + [ours(idx[:, t:t + 1], cache=cache) for t in range(4, 9)], dim=1)
        torch.testing.assert_close(steps, model(idx).logits, rtol=1e-10, atol=1e-10)


def test_the_model_config_maps_gpt2s_fields():
    _, config = hf_model({"n_inner": None, "tie_word_embeddings": False})
    assert gpt2_model_config(config) == dict(
        vocab_size=37, context_length=12, d_model=16, n_layers=2, n_heads=4, d_ff=64,
        tie_embeddings=False, norm="layer", ffn="gelu_tanh", positions="learned", norm_eps=1e-5)
    assert set(GPT(**gpt2_model_config(config)).state_dict()) >= {"pos_emb.weight"}


def test_unsupported_configurations_are_refused():
    _, config = hf_model({"scale_attn_by_inverse_layer_idx": True})
    with pytest.raises(ValueError, match="scale_attn_by_inverse_layer_idx"):
        gpt2_model_config(config)
    _, config = hf_model({"activation_function": "tanh"})
    with pytest.raises(ValueError, match="unsupported activation_function 'tanh'"):
        gpt2_model_config(config)


def test_a_bfloat16_checkpoint_gives_a_bfloat16_model():
    model, config = hf_model({})
    sd = {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    ours = load_gpt2_weights(sd, config)
    assert {p.dtype for p in ours.parameters()} == {torch.bfloat16}
