"""The main job behind ``llmcourse train``: a short run prints the loss against the entropy floor,
tokens/s and MFU, and its loss falls from the uniform guess toward the floor."""

import math

from autograder.cli import main
from reference.train import main_job


def test_main_job_short_run(capsys):
    history, floor = main_job(max_steps=40, progress=False)
    out = capsys.readouterr().out
    assert "entropy floor" in out and "tokens/s" in out and "MFU" in out
    assert floor < history["val_loss"][-1] < math.log(16)
    assert history["val_loss"][-1] < history["train_loss"][0]


def test_cli_train_entry(capsys):
    assert main(["train", "--steps", "6", "--quiet", "--device", "cpu"]) == 0
    assert "entropy floor" in capsys.readouterr().out


def _text_file(tmp_path):
    words = "the cat sat on a mat while dogs ran over green hills and birds sang".split()
    lines = (" ".join(words[(7 * i + 3 * j) % len(words)] for j in range(10)) for i in range(200))
    path = tmp_path / "mine.txt"
    path.write_text("\n".join(lines) + "\nünïcödé 🙂\n", encoding="utf-8")
    return path


def test_train_on_your_own_text_bytes_and_bpe(tmp_path, capsys):
    path = _text_file(tmp_path)
    history, floor = main_job(max_steps=12, progress=False, device="cpu", text_path=str(path))
    out = capsys.readouterr().out
    assert floor is None and "bits/byte" in out and "no known floor" in out
    assert history["val_loss"][-1] < math.log(256)  # learned something about the bytes
    assert main(["train", "--steps", "4", "--quiet", "--device", "cpu", "--text", str(path),
                 "--vocab-size", "280"]) == 0
    assert "vocabulary 280" in capsys.readouterr().out


def test_train_on_a_missing_or_tiny_file_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--steps", "2", "--text", str(tmp_path / "missing.txt")]) == 2
    (tmp_path / "tiny.txt").write_text("too short", encoding="utf-8")
    assert main(["train", "--steps", "2", "--text", str(tmp_path / "tiny.txt")]) == 2
    err = capsys.readouterr().err
    assert "missing.txt" in err and "at least 1000" in err
