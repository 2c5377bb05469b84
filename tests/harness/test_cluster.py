"""Class grading on Dask (autograder/cluster.py): a LocalCluster of two worker processes grades a
mixed class (right, wrong, untouched, hostile, not a notebook) with the results of local grading,
even when a worker is killed in the middle of a submission."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import pytest

from autograder import batch, cluster
from autograder.build import output_paths
from autograder.chapters import find_exercise

distributed = pytest.importorskip("distributed", reason="the `cluster` extra (Dask) is missing")

pytestmark = pytest.mark.slow
ASSIGNMENT = "ch04_attention"
HOSTILE = """
def layer_norm(x, weight=None, bias=None, eps=1e-5):
    import os
    os._exit(3)  # kills the process that grades it
"""
TIMING = ("graded_at", "seconds", "reused")


@pytest.fixture
def course(ch04, make_class, make_submission):
    unbiased = find_exercise("ch04.layer_norm")[1].mistake("unbiased_variance").impl
    return make_class({"alice": make_submission({}),
                       "carol": make_submission({"ch04.layer_norm": unbiased}),
                       "bob": output_paths(ch04)[0],
                       "mallory": make_submission({"ch04.layer_norm": HOSTILE}),
                       "dave": "{ not json"})


def grade(root, ch04, **kw):
    folders = {p.parent.name: p for p in sorted((root / "submitted").glob(f"*/{ASSIGNMENT}"))}
    return batch.grade_all(root, ASSIGNMENT, ch04, folders, [ASSIGNMENT], log=lambda *a: None,
                           **kw)


def stored(root) -> dict:
    """The stored results, without the fields that are timings by nature."""
    out = {}
    for path in (root / "llmcourse" / "results" / ASSIGNMENT).glob("*.json"):
        rec = json.loads(path.read_text())
        out[path.name] = {k: v for k, v in rec.items() if k not in TIMING}
    return out


def test_a_cluster_grades_like_local_grading_even_when_a_worker_dies(course, ch04, tmp_path):
    remote_course = tmp_path / "remote"
    shutil.copytree(course, remote_course)
    grade(course, ch04, jobs=1)
    local = stored(course)
    assert {r["student"] for r in local.values()} == {"alice", "bob", "carol", "dave", "mallory"}

    client = cluster.connect("local", 2)
    try:
        killed = []

        def kill_a_busy_worker():
            """SIGKILL a worker while it grades a submission (its nanny starts a new one)."""
            pids = client.run(os.getpid)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                busy = [w for w, keys in client.processing().items() if keys]
                done = list((remote_course / "llmcourse" / "results" / ASSIGNMENT).glob("*.json"))
                if busy and done:  # mid-batch: some results stored, a submission in progress
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        records = grade(remote_course, ch04, remote=cluster.remote_grader(client))
        killer.join()
    finally:
        client.close()
        client.cluster.close()
    assert killed, "no worker was killed mid-batch: the test proved nothing"
    assert stored(remote_course) == local  # byte for byte, but for the timings
    assert records["dave"]["failure"] and "invalid JSON" in records["dave"]["failure"]
    layer_norm = next(e for e in batch.exercise_rows(records["mallory"])
                      if e["id"] == "ch04.layer_norm")
    assert layer_norm["points"] == 0 and not records["mallory"]["failure"]  # only its exercise


def test_a_worker_of_another_llmcourse_is_refused(course, ch04):
    req = cluster.request("alice", course / "submitted" / "alice" / ASSIGNMENT, [ASSIGNMENT],
                          assignment=ASSIGNMENT, chapter_id="ch04", seed=0, budget_s=None,
                          fingerprint="another version")
    assert "worker_fingerprint" in json.loads(cluster.grade_request(req))


def test_without_dask_the_option_says_what_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.split(".")[0] == "distributed":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(cluster.ClusterError, match=r"pip install -e '\.\[cluster\]'"):
        cluster.connect("local", 2)
