"""``llmcourse generate``: checkpoints of ``llmcourse train`` carry the model's constructor
arguments and its tokenizer, ``load_for_generation`` rebuilds both, and the command continues a
prompt, the same text for the same seed, and greedily the same with or without the key/value cache.

Three tiny runs (the synthetic corpus, a small text as bytes and as BPE) are trained once for the
module; every test reads their checkpoints."""

import pytest
import torch

from reference.blocks import GPT
from reference.data import BPETokenizer, synthetic_corpus, text_corpus, train_bpe
from reference.train import TrainConfig, load_for_generation, main_job, text_functions, train

TINY = dict(max_steps=30, d_model=16, n_layers=1, n_heads=2, context_length=16, batch_size=4,
            progress=False, device="cpu")
KINDS = ("synthetic", "bytes", "bpe")
PROMPTS = {"synthetic": "1 2 3", "bytes": "the ", "bpe": "the "}


def _write_text(path):
    """About 3 KB of text with enough distinct words that BPE learns its 44 merges."""
    words = ("the a cat dog bird sat ran flew over under near green red blue small large hill "
             "river tree house road quickly slowly and but then while every morning evening "
             "light dark stone water").split()
    lines = (" ".join(words[(11 * i + 5 * j + i * j) % len(words)] for j in range(9)) + "."
             for i in range(60))
    path.write_text("\n".join(lines) + "\nünïcödé 🙂\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    return _write_text(tmp_path_factory.mktemp("text") / "mine.txt")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, text_file):
    """{kind: checkpoint path} after 30 steps of ``main_job`` with the tiny settings (without
    measuring the machine's matmul peak, ~0.6 s a run: the MFU it is for is not looked at)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    paths = {kind: folder / f"{kind}.pt" for kind in KINDS}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("reference.train.measure_peak_flops", lambda *args, **kwargs: 1e12)
        main_job(checkpoint_path=str(paths["synthetic"]), **TINY)
        main_job(checkpoint_path=str(paths["bytes"]), text_path=str(text_file), **TINY)
        main_job(checkpoint_path=str(paths["bpe"]), text_path=str(text_file),
                 text_vocab_size=300, **TINY)
    return paths


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model, checkpoint path, meta, corpus): a GPT trained by ``train`` itself, kept in
    memory."""
    config = dict(vocab_size=8, context_length=16, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    meta = {"model_config": config, "tokenizer": {"kind": "synthetic", "vocab_size": 8}}
    corpus = synthetic_corpus(vocab_size=8, order=1, n_train=2_000, n_val=500, seed=0)
    torch.manual_seed(0)
    model = GPT(**config)
    path = tmp_path_factory.mktemp("trained") / "run.pt"
    train(model, corpus.train, corpus.val, TrainConfig(
        max_steps=8, batch_size=4, context_length=16, eval_interval=8, eval_batches=1,
        device="cpu", dtype="float32", checkpoint_path=str(path), peak_flops=1e12,
        progress=False), meta)
    return model, path, meta, corpus


# --------------------------------------------------------------------------- the checkpoint
@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
def test_checkpoint_records_the_model_and_the_tokenizer_as_plain_data(checkpoints, kind,
                                                                      text_file):
    state = torch.load(checkpoints[kind], map_location="cpu", weights_only=True)
    vocab_size = {"synthetic": 16, "bytes": 256, "bpe": 300}[kind]
    assert state["model_config"] == dict(vocab_size=vocab_size, context_length=16, d_model=16,
                                         n_layers=1, n_heads=2, d_ff=64)
    assert state["tokenizer"]["kind"] == kind
    if kind == "synthetic":
        assert state["tokenizer"]["vocab_size"] == 16
    if kind == "bpe":  # learned again for the checkpoint: the same merges the corpus used
        record = state["tokenizer"]
        assert len(record["vocab"]) == 300 and all(isinstance(b, bytes) for b in record["vocab"])
        tokenizer = BPETokenizer(dict(enumerate(record["vocab"])), record["merges"])
        corpus = text_corpus(str(text_file), 300)
        ids = tokenizer.encode(text_file.read_text(encoding="utf-8"))
        assert ids[:len(corpus.train)] == corpus.train.tolist()


def test_load_for_generation_rebuilds_the_trained_model(trained):
    model, path, _, corpus = trained
    loaded, encode, decode = load_for_generation(str(path), device="cpu")
    x = corpus.val[:16][None]  # (1, 16)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x)), "the rebuilt model's logits differ"
    assert not loaded.training
    assert encode("3 0 7") == [3, 0, 7] and decode([3, 0, 7]) == "3 0 7"


def test_a_checkpoint_from_before_model_config_resumes_but_cannot_generate(trained, tmp_path,
                                                                           llmcourse):
    _, path, meta, corpus = trained
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in meta:
        del state[key]
    old = tmp_path / "old.pt"
    torch.save(state, old)
    with pytest.raises(ValueError, match="retrain with llmcourse train --checkpoint"):
        load_for_generation(str(old), device="cpu")
    run = llmcourse("generate", "--checkpoint", str(old))
    assert run.returncode == 2 and "retrain with llmcourse train" in run.stderr

    config = TrainConfig(max_steps=10, batch_size=4, context_length=16, eval_interval=8,
                         eval_batches=1, device="cpu", dtype="float32", checkpoint_path=str(old),
                         peak_flops=1e12, progress=False)
    history = train(GPT(**meta["model_config"]), corpus.train, corpus.val, config, meta)
    assert history["step"][-2:] == [8, 9], "training did not resume at the saved step"
    resumed = torch.load(old, map_location="cpu", weights_only=True)
    assert resumed["model_config"] == meta["model_config"] and resumed["step"] == 10


def test_bpe_decoding_skips_ids_the_text_never_produced():
    vocab, merges = train_bpe("ab ab ab", 300)  # runs out of pairs long before 300 ids
    encode, decode = text_functions({"kind": "bpe", "vocab": [vocab[i] for i in range(len(vocab))],
                                     "merges": merges})
    assert decode(encode("ab ab") + [299]) == "ab ab"


# --------------------------------------------------------------------------- the command
@pytest.mark.parametrize("kind", KINDS, ids=KINDS)
def test_generate_is_reproducible_and_the_cache_changes_nothing(checkpoints, kind, llmcourse):
    base = ("generate", "--checkpoint", str(checkpoints[kind]), "--prompt", PROMPTS[kind],
            "--max-new-tokens", "10", "--device", "cpu")
    sampled = [llmcourse(*base, "--seed", "1", "--top-k", "5", "--top-p", "0.9")
               for _ in range(2)]
    assert sampled[0].returncode == 0, sampled[0].stderr
    assert sampled[0].stdout == sampled[1].stdout, "the same seed gave different text"
    assert sampled[0].stdout.startswith(PROMPTS[kind])
    cached = llmcourse(*base, "--temperature", "0")
    uncached = llmcourse(*base, "--temperature", "0", "--no-cache")
    assert cached.returncode == uncached.returncode == 0
    assert cached.stdout == uncached.stdout, "greedy decoding differs without the cache"
    assert cached.stdout.startswith(PROMPTS[kind]) and cached.stderr == ""


def test_generate_fits_the_context_and_says_so(checkpoints, llmcourse):
    run = llmcourse("generate", "--checkpoint", str(checkpoints["synthetic"]), "--prompt", "1 2",
                    "--max-new-tokens", "100", "--device", "cpu")
    assert run.returncode == 0
    assert len(run.stdout.split()) == 16  # the context length: 2 prompt tokens + 14 new
    assert run.stderr.count("\n") == 1 and "generating 14" in run.stderr


@pytest.mark.parametrize("kind, start", [("synthetic", "0 "), ("bytes", "\n"), ("bpe", "\n")],
                         ids=KINDS)
def test_an_empty_prompt_starts_from_token_0_or_a_newline(checkpoints, kind, start, llmcourse):
    run = llmcourse("generate", "--checkpoint", str(checkpoints[kind]), "--max-new-tokens", "5",
                    "--device", "cpu")
    assert run.returncode == 0 and run.stdout.startswith(start)


BAD = {
    "missing-file": (["--checkpoint", "{dir}/missing.pt"], "missing.pt"),
    "not-a-checkpoint": (["--checkpoint", "{text}"], "not a checkpoint"),
    "negative-temperature": (["--temperature", "-0.5"], "--temperature"),
    "nan-temperature": (["--temperature", "nan"], "--temperature"),
    "top-p-zero": (["--top-p", "0"], "--top-p"),
    "top-p-above-1": (["--top-p", "1.5"], "--top-p"),
    "top-k-zero": (["--top-k", "0"], "--top-k"),
    "negative-max-new-tokens": (["--max-new-tokens", "-1"], "--max-new-tokens"),
    "prompt-fills-the-context": (["--prompt", " ".join(["1"] * 16)], "shorten the prompt"),
    "not-token-ids": (["--prompt", "hello"], "integers 0..15"),
    "unknown-device": (["--device", "tpu9"], "unknown device"),
}


@pytest.mark.parametrize("argv, message", BAD.values(), ids=BAD.keys())
def test_bad_input_is_one_line_and_exit_code_2(checkpoints, text_file, argv, message, llmcourse):
    argv = [a.format(dir=text_file.parent, text=text_file) for a in argv]
    if "--checkpoint" not in argv:
        argv += ["--checkpoint", str(checkpoints["synthetic"])]
    run = llmcourse("generate", *argv)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("llmcourse generate: ") and run.stderr.count("\n") == 1
    assert message in run.stderr
