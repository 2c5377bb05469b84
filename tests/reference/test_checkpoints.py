"""reference.checkpoints: a GPT saved as safetensors loads back with the same logits bit for bit,
in its own dtype, with its ties restored and the global RNG untouched; the file holds every tensor
once, in byte ranges that do not overlap, and its metadata rebuilds the model; a file that is not
ours is a ValueError."""

import io
import json

import pytest
import torch

from reference.blocks import GPT

safetensors = pytest.importorskip("safetensors", reason="the optional extra 'practice' "
                                  "(safetensors) is not installed")
safetensors_torch = pytest.importorskip("safetensors.torch")

from reference import checkpoints  # noqa: E402 - needs safetensors (the practice extra)
from reference.checkpoints import load_safetensors, read_header, save_safetensors  # noqa: E402

SMALL = dict(vocab_size=11, context_length=8, d_model=16, n_layers=2, n_heads=2, d_ff=32)
CONFIGS = {
    "tied": SMALL,
    "untied": {**SMALL, "tie_embeddings": False},
    "gpt2-like": {**SMALL, "norm": "layer", "ffn": "gelu_tanh", "positions": "learned",
                  "norm_eps": 1e-5},
}
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def _model(config, dtype=torch.float32):
    """GPT(**config) in ``dtype`` with every tensor moved off its initial value (norm gains are
    ones and biases zeros at first: a loader that skipped them would pass on a fresh model)."""
    torch.manual_seed(0)
    model = GPT(**config)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model.to(dtype).eval()


def _ids():
    return torch.randint(0, SMALL["vocab_size"], (2, SMALL["context_length"]),
                         generator=torch.Generator().manual_seed(2))


def _saved_bytes(model, config):
    buffer = io.BytesIO()
    save_safetensors(model, buffer, config)
    return buffer.getvalue()


@pytest.mark.parametrize("target", ["path", "bytesio"])
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_round_trip_gives_the_same_model(tmp_path, config, dtype, target):
    model = _model(config, dtype)
    file = tmp_path / "model.safetensors" if target == "path" else io.BytesIO()
    save_safetensors(model, file, config)
    if target == "bytesio":
        file.seek(0)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    loaded = load_safetensors(file)
    assert torch.equal(torch.get_rng_state(), before), "loading changed the global RNG state"
    assert not loaded.training, "the loaded model is not in eval mode"
    assert torch.equal(loaded(_ids()), model(_ids())), "different logits after the round trip"
    for (name, p), (_, q) in zip(loaded.state_dict().items(), model.state_dict().items(),
                                 strict=True):
        assert p.dtype == q.dtype == dtype, f"{name}: {p.dtype} where {q.dtype} was saved"
    tied = config.get("tie_embeddings", True)
    assert (loaded.lm_head.weight is loaded.tok_emb.weight) == tied, "tie not restored"
    assert len(list(loaded.parameters())) == len(list(model.parameters()))


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_the_file_holds_the_config_and_each_tensor_once(tmp_path, config):
    model, path = _model(config), tmp_path / "model.safetensors"
    save_safetensors(model, path, config)
    with safetensors.safe_open(str(path), framework="pt") as f:
        metadata, names = f.metadata(), set(f.keys())
    assert json.loads(metadata["llmcourse.model_config"]) == config
    tied = json.loads(metadata["llmcourse.tied"])
    if config.get("tie_embeddings", True):
        assert tied == {"lm_head.weight": "tok_emb.weight"}
    else:
        assert tied == {}
    assert names == model.state_dict().keys() - tied.keys()
    assert len(names) == len({id(p) for p in model.parameters()}), "a tied tensor stored twice"


def test_stored_tensors_own_disjoint_byte_ranges():
    header = read_header(_saved_bytes(_model(SMALL), SMALL))
    ranges = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert all(end <= start for (_, end), (start, _) in zip(ranges, ranges[1:])), ranges


def _without(name):
    def edit(tensors):
        del tensors[name]
    return edit


def _reshaped(name):
    def edit(tensors):
        tensors[name] = tensors[name][:-1].clone()
    return edit


def _added(tensors):
    tensors["extra.weight"] = torch.zeros(3)


def _rewritten(edit, metadata_edit=None):
    """Our file with its tensors (and metadata) changed, written again."""
    data = _saved_bytes(_model(SMALL), SMALL)
    tensors = safetensors_torch.load(data)
    metadata = read_header(data)["__metadata__"]
    edit(tensors)
    if metadata_edit:
        metadata_edit(metadata)
    return safetensors_torch.save(tensors, metadata=metadata)


BAD_FILES = {
    "text": (lambda: b"plain text, not a checkpoint", "not a safetensors file"),
    "truncated": (lambda: _saved_bytes(_model(SMALL), SMALL)[:200], "not a safetensors file"),
    "foreign": (lambda: safetensors_torch.save({"w": torch.zeros(2)}), "llmcourse.model_config"),
    "missing-tensor": (lambda: _rewritten(_without("norm_f.weight")), r"missing \['norm_f.weight'"),
    "unexpected-tensor": (lambda: _rewritten(_added), r"unexpected \['extra.weight'"),
    "wrong-shape": (lambda: _rewritten(_reshaped("tok_emb.weight")), r"tok_emb.weight: \(10, 16\)"),
    "unknown-argument": (lambda: _rewritten(lambda t: None, lambda m: m.update(
        {"llmcourse.model_config": json.dumps({**SMALL, "dropout": 0.1})})), "does not fit"),
    "untied-file": (lambda: _rewritten(lambda t: t.update({"lm_head.weight": t[
        "tok_emb.weight"].clone()}), lambda m: m.update({"llmcourse.tied": "{}"})),
        "the file ties {}"),
    "tied-tensor-stored-twice": (lambda: _rewritten(lambda t: t.update({"lm_head.weight": t[
        "tok_emb.weight"].clone()})), r"unexpected \['lm_head.weight'\]"),
}


@pytest.mark.parametrize("make, message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_file_that_is_not_ours_is_a_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        load_safetensors(io.BytesIO(make()))


def test_a_text_file_on_disk_is_a_value_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("some notes, long enough to be read as a header length and more")
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_safetensors(path)


def test_saving_checks_that_the_config_describes_the_model():
    with pytest.raises(ValueError, match="does not describe this model"):
        save_safetensors(_model(SMALL), io.BytesIO(), {**SMALL, "d_model": 32})
    with pytest.raises(ValueError, match="ties"):
        save_safetensors(_model(CONFIGS["untied"]), io.BytesIO(), SMALL)
    with pytest.raises(ValueError, match="plain JSON"):
        save_safetensors(_model(SMALL), io.BytesIO(), {**SMALL, "norm_eps": torch.tensor(1.0)})


def test_a_buffer_outside_the_state_dict_is_computed_without_touching_the_rng(monkeypatch):
    class WithTable(GPT):  # a table computed at construction and never saved (persistent=False)
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.register_buffer("table", torch.arange(4.0), persistent=False)

    monkeypatch.setattr(checkpoints, "GPT", WithTable)
    data = _saved_bytes(_model(SMALL), SMALL)
    before = torch.get_rng_state()
    loaded = load_safetensors(io.BytesIO(data))
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(loaded.table, torch.arange(4.0))
    assert torch.equal(loaded(_ids()), _model(SMALL)(_ids()))


@pytest.mark.cuda
def test_load_onto_cuda_keeps_the_tie():
    loaded = load_safetensors(io.BytesIO(_saved_bytes(_model(SMALL), SMALL)), device="cuda")
    assert loaded.tok_emb.weight.is_cuda and loaded.lm_head.weight is loaded.tok_emb.weight
    torch.testing.assert_close(loaded(_ids().cuda()).cpu(), _model(SMALL)(_ids()))
