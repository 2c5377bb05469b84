"""The plan cache of ``llmcourse check`` (autograder/plancache.py): a second run reads what the
first stored and gets the same plan; another seed, another source or a damaged file builds afresh."""

from __future__ import annotations

import pytest
import torch

from autograder import plancache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path))
    return tmp_path


def _same(a, b) -> None:
    assert [ex.id for ex, _ in a] == [ex.id for ex, _ in b]
    for (_, pa), (_, pb) in zip(a, b):
        assert len(pa) == len(pb)
        for x, y in zip(pa, pb):
            assert (x.index, x.case.name, x.tags, x.allowed, x.expected_dtypes, x.n_outputs) == \
                   (y.index, y.case.name, y.tags, y.allowed, y.expected_dtypes, y.n_outputs)
            assert all(torch.equal(s, t) for s, t in zip(x.truth, y.truth))
            assert all(torch.equal(s, t) for s, t in zip(x.grad_outputs, y.grad_outputs))
            assert len(x.truth) == len(y.truth) and len(x.grad_outputs) == len(y.grad_outputs)


def _forbid_building(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the plan was built again")
    monkeypatch.setattr(plancache, "plan_for", refuse)


def test_second_run_reads_the_stored_plan(ch04, cache, monkeypatch):
    first = plancache.cached_plan(ch04, devices=("cpu",))
    assert len(list(cache.glob("plan-ch04-*.pt"))) == 1
    _forbid_building(monkeypatch)
    _same(plancache.cached_plan(ch04, devices=("cpu",)), first)


def test_the_stored_plan_equals_a_fresh_one(ch04, cache):
    from autograder.grade import plan_for

    plancache.cached_plan(ch04, devices=("cpu",))
    _same(plancache.cached_plan(ch04, devices=("cpu",)), plan_for(ch04, devices=("cpu",)))


def test_another_seed_is_another_plan(ch04, cache):
    a = plancache.cached_plan(ch04, seed=0, devices=("cpu",))
    b = plancache.cached_plan(ch04, seed=1, devices=("cpu",))
    k = next(i for i, (_, prepared) in enumerate(a) if prepared)  # an exercise with cases
    assert not torch.equal(a[k][1][0].truth[0], b[k][1][0].truth[0])
    assert len(list(cache.glob("plan-ch04-*.pt"))) == 1  # the older plan is removed


def test_any_source_edit_changes_the_key(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "table.json").write_text("{}")
    before = plancache.source_digest((tmp_path / "pkg",))
    (tmp_path / "pkg" / "table.json").write_text("{\"a\": 1}")
    assert plancache.source_digest((tmp_path / "pkg",)) != before
    (tmp_path / "pkg" / "table.json").write_text("{}")
    assert plancache.source_digest((tmp_path / "pkg",)) == before
    (tmp_path / "pkg" / "b.py").write_text("")
    assert plancache.source_digest((tmp_path / "pkg",)) != before


@pytest.mark.parametrize("damage", ["truncated", "renamed case"])
def test_a_damaged_or_foreign_file_is_rebuilt(ch04, cache, damage):
    plancache.cached_plan(ch04, devices=("cpu",))
    [path] = cache.glob("plan-ch04-*.pt")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        stored = torch.load(path, weights_only=True)
        stored["ch04.softmax"][0]["name"] = "another case"
        torch.save(stored, path)
    from autograder.grade import plan_for

    _same(plancache.cached_plan(ch04, devices=("cpu",)), plan_for(ch04, devices=("cpu",)))
    assert torch.load(path, weights_only=True)["ch04.softmax"][0]["name"] != "another case"


def test_an_unwritable_cache_only_costs_time(ch04, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("LLMCOURSE_CACHE", str(blocker / "cache"))  # under a file: cannot exist
    assert plancache.cached_plan(ch04, devices=("cpu",))
