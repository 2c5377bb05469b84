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
