"""gradelib.formats: its own safetensors reader and writer agree with the safetensors package
byte for byte where the package is installed, and the save/load drivers give the reference's
results and report what they must."""

import io
import json

import pytest
import torch

from autograder.gradelib import formats

DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16, torch.int64, torch.int8,
          torch.uint8, torch.bool]
CONFIG = {"vocab_size": 20, "context_length": 8, "d_model": 16, "n_layers": 2, "n_heads": 4,
          "d_ff": 24}


def _tensors():
    gen = torch.Generator().manual_seed(0)
    out = {f"t{i}": (torch.randn(3, 5, generator=gen) * 50).to(dt) for i, dt in enumerate(DTYPES)}
    out["scalar"] = torch.tensor(2.5)
    out["empty"] = torch.zeros(0, 4)
    return out


def test_round_trip():
    tensors = _tensors()
    got, meta = formats.read_safetensors(formats.write_safetensors(tensors, {"k": "v"}))
    assert meta == {"k": "v"} and list(got) == list(tensors)
    for name, t in tensors.items():
        assert got[name].dtype == t.dtype and torch.equal(got[name], t), name


def test_the_package_reads_ours_and_we_read_the_packages():
    st = pytest.importorskip("safetensors.torch", reason="the optional extra 'practice' "
                             "(safetensors) is not installed")
    tensors = _tensors()
    theirs = st.load(formats.write_safetensors(tensors, {"k": "v"}))
    assert all(torch.equal(theirs[n], t) for n, t in tensors.items())
    ours, meta = formats.read_safetensors(st.save(tensors, metadata={"k": "v"}))
    assert meta == {"k": "v"} and all(torch.equal(ours[n], t) for n, t in tensors.items())


@pytest.mark.parametrize("data", [b"", b"12345678", b"\x10" + b"\0" * 7 + b"{}",
                                  b"\x02" + b"\0" * 7 + b"[]", b"PK\x03\x04 a zip file"])
def test_what_is_not_safetensors_is_a_value_error(data):
    with pytest.raises(ValueError, match="not a safetensors file"):
        formats.read_safetensors(data)


def _params(config, dtype=torch.float64):
    model = formats.GPT(**config)
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(p.shape, generator=gen, dtype=torch.float64).to(dtype) * 0.3
            for p in model.parameters()]


@pytest.mark.parametrize("tied", [True, False])
def test_drive_save_with_the_reference(tied):
    pytest.importorskip("safetensors", reason="the optional extra 'practice' is not installed")
    from reference.checkpoints import save_safetensors

    config = {**CONFIG, "tie_embeddings": tied}
    params = _params(config)
    idx = torch.randint(0, 20, (2, 8))
    logits, n_stored, config_ok, tied_ok = formats.drive_save_safetensors(
        save_safetensors, *params, model_config=config, idx=idx)
    model = formats._model(config, params)
    torch.testing.assert_close(logits, model(idx), rtol=0, atol=0)
    assert int(n_stored) == len(params) and int(config_ok) == 1 and int(tied_ok) == 1


def test_drive_save_reports_a_missing_config_and_a_duplicated_tie():
    def careless(model, file, model_config):
        file.write(formats.write_safetensors({k: v.clone() for k, v in
                                              model.state_dict().items()}))

    params = _params(CONFIG)
    _, n_stored, config_ok, tied_ok = formats.drive_save_safetensors(
        careless, *params, model_config=CONFIG, idx=torch.zeros(1, 3, dtype=torch.long))
    assert int(n_stored) == len(params) + 1 and int(config_ok) == 0 and int(tied_ok) == 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=str)
def test_drive_load_with_the_reference(dtype):
    pytest.importorskip("safetensors", reason="the optional extra 'practice' is not installed")
    from reference.checkpoints import load_safetensors

    config = {**CONFIG, "norm": "layer", "ffn": "gelu_tanh", "positions": "learned"}
    params = _params(config, dtype)
    idx = torch.randint(0, 20, (2, 8))
    logits, tied, rng_kept, in_eval = formats.drive_load_safetensors(
        load_safetensors, *params, model_config=config, idx=idx)
    assert logits.dtype == dtype
    from reference.blocks import GPT

    reference = GPT(**config).to(dtype)
    with torch.no_grad():
        for p, value in zip(reference.parameters(), params, strict=True):
            p.copy_(value)
        torch.testing.assert_close(logits, reference(idx), rtol=0, atol=0)
    assert (int(tied), int(rng_kept), int(in_eval)) == (1, 1, 1)


def test_drive_load_sees_the_global_generator_move():
    def loads_by_building(file):
        tensors, meta = formats.read_safetensors(file.read())
        model = formats.GPT(**json.loads(meta[formats.CONFIG_KEY]))  # random init: draws
        model.load_state_dict(tensors, strict=False)
        return model

    params = _params(CONFIG)
    _, tied, rng_kept, in_eval = formats.drive_load_safetensors(
        loads_by_building, *params, model_config=CONFIG, idx=torch.zeros(1, 2, dtype=torch.long))
    assert (int(tied), int(rng_kept), int(in_eval)) == (1, 0, 0)


def test_a_file_object_is_what_the_loader_gets():
    seen = []
    params = _params(CONFIG)

    def spy(file):
        seen.append(isinstance(file, io.BytesIO))
        return formats._model(CONFIG, params)

    formats.drive_load_safetensors(spy, *params, model_config=CONFIG,
                                   idx=torch.zeros(1, 2, dtype=torch.long))
    assert seen == [True]
