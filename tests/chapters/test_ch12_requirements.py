"""Chapter 12's safetensors exercises need the optional extra: where the package is missing they
have no cases and are reported "ungraded on this machine", never as passed; the GPT-2 loader,
which needs nothing but torch, is graded everywhere."""

import importlib.util

import pytest

from autograder import cases, judge
from autograder.chapters import get_chapter


@pytest.fixture
def without_safetensors(monkeypatch):
    find_spec = importlib.util.find_spec

    def hiding(name, *args, **kwargs):
        return None if name.split(".")[0] == "safetensors" else find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", hiding)


@pytest.mark.parametrize("exercise", ["ch12.save_safetensors", "ch12.load_safetensors"])
def test_ungraded_without_the_package(without_safetensors, exercise):
    ex = get_chapter("ch12").exercise(exercise)
    assert cases.build_cases(ex) == []
    result = judge.summarize(ex, [])
    assert result.ungraded and not result.passed and result.points == 0
    assert result.messages[0].startswith(
        "ungraded on this machine: it needs the package safetensors "
        "(pip install 'llmcourse[practice]')")


def test_the_gpt2_loader_needs_no_extra(without_safetensors):
    ex = get_chapter("ch12").exercise("ch12.load_gpt2_weights")
    assert ex.requires == () and len(cases.build_cases(ex)) > 0
