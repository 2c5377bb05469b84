"""gradelib.gpt2: the checkpoints the grader draws have the names, order and shapes of
``transformers``' GPT2LMHeadModel (so the grader needs no transformers), and the driver runs a
loader's model on them; with the reference loader it gives GPT-2's own logits."""

import pytest
import torch

from autograder.gradelib import gpt2
from reference.gpt2 import load_gpt2_weights

CONFIGS = [{}, {"tie_word_embeddings": False}, {"n_inner": 24, "n_layer": 3},
           {"activation_function": "relu", "layer_norm_epsilon": 0.1}]
BASE = {"vocab_size": 29, "n_positions": 10, "n_embd": 16, "n_layer": 2, "n_head": 4}


def _hf(config):
    transformers = pytest.importorskip("transformers", reason="the optional extra 'practice' "
                                       "(transformers) is not installed")
    return transformers.GPT2LMHeadModel(
        transformers.GPT2Config(**config, bos_token_id=0, eos_token_id=0)).double().eval()


@pytest.mark.parametrize("overrides", CONFIGS, ids=str)
def test_names_order_and_shapes_are_gpt2s(overrides):
    config = {**BASE, **overrides}
    hf_state = _hf(config).state_dict()
    tied = config.get("tie_word_embeddings", True)
    names = [k for k in hf_state if not (tied and k == "lm_head.weight")]
    assert gpt2.gpt2_keys(config["n_layer"], tied) == names
    assert gpt2.gpt2_shapes(config) == {k: tuple(hf_state[k].shape) for k in names}


@pytest.mark.parametrize("overrides", CONFIGS, ids=str)
def test_the_driver_with_the_reference_gives_gpt2s_logits(overrides):
    config = {**BASE, **overrides}
    model = _hf(config)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.3)
    state = model.state_dict()
    tensors = [state[k] for k in gpt2.gpt2_keys(config["n_layer"],
                                                 config.get("tie_word_embeddings", True))]
    idx = torch.randint(0, config["vocab_size"], (2, 7), generator=gen)
    logits, tied = gpt2.drive_gpt2(load_gpt2_weights, *tensors, config=config, idx=idx)
    with torch.no_grad():
        torch.testing.assert_close(logits, model(idx).logits, rtol=1e-10, atol=1e-10)
    assert int(tied) == int(config.get("tie_word_embeddings", True))


def test_the_config_object_has_gpt2configs_defaults():
    c = gpt2.gpt2_config(BASE)
    assert (c.n_inner, c.layer_norm_epsilon, c.activation_function, c.tie_word_embeddings) == (
        None, 1e-5, "gelu_new", True)


def test_the_driver_refuses_what_is_not_a_module():
    tensors = [torch.zeros(s, dtype=torch.float64) for s in gpt2.gpt2_shapes(BASE).values()]
    with pytest.raises(TypeError, match="return the course GPT"):
        gpt2.drive_gpt2(lambda sd, c: sd, *tensors, config=BASE, idx=torch.zeros(1, 2,
                                                                                 dtype=torch.long))


def test_a_tied_checkpoint_shares_one_tensor_under_two_names():
    seen = {}

    def spy(state_dict, config):
        seen.update(state_dict)
        return load_gpt2_weights(state_dict, config)

    tensors = [torch.randn(s, dtype=torch.float64) for s in gpt2.gpt2_shapes(BASE).values()]
    gpt2.drive_gpt2(spy, *tensors, config=BASE, idx=torch.zeros(1, 3, dtype=torch.long))
    assert seen["lm_head.weight"] is seen["transformer.wte.weight"]
