"""Class grading on Dask: the same per-submission grading as ``batch.grade_all``, on the workers of
a Dask cluster (a local one, a running scheduler, Slurm through dask-jobqueue, Kubernetes through
dask-kubernetes).

What travels, and what does not:

- to a worker: one JSON request per submission: the student id, the chapter, the seed, the
  grader's fingerprint and the submission's notebook files (base64 of their bytes). Workers need
  no access to the course directory and never see another student's files or the results.
- back: the result record as a JSON string (what ``batch.grade_folder`` returns), parsed and
  checked by the client. Nothing built from a student's notebook is pickled either way.
- The client writes results, reports, feedback and the gradebook exactly as local grading does,
  atomically, in the course directory (``batch.grade_all``).

Each worker grades with the same sandbox and slot leases as local grading (``batch.grade_folder``
on a private temporary copy of the files). A worker that runs another version of llmcourse
(another grader fingerprint) is refused: its verdicts could differ. A worker lost mid-submission
is replaced by the scheduler, which runs the task again elsewhere (Dask's
``distributed.scheduler.allowed-failures`` bounds how often); the client records each submission
once, when its task completes, and a task that failed on every try is a failure ("not graded"),
never a 0.

The Dask packages are the optional extra ``cluster`` (``pip install -e '.[cluster]'``; Slurm also
needs ``dask-jobqueue``, Kubernetes ``dask-kubernetes``). See docs/SCALING.md.
"""

from __future__ import annotations

import base64
import json
import tempfile
from functools import partial
from pathlib import Path

from autograder import batch
from autograder.chapters import get_chapter
from autograder.grade import plan_for
from autograder.sandbox import detect

INSTALL = "pip install -e '.[cluster]'"
KINDS = ("local", "slurm", "kubernetes")


class ClusterError(Exception):
    """The cluster cannot be used (missing package, unreachable scheduler): one line for the user."""


def connect(spec: str, jobs: int):
    """A ``distributed.Client`` for ``--cluster SPEC``: ``local`` (a LocalCluster of ``jobs``
    worker processes on this machine), ``slurm`` or ``kubernetes`` (``jobs`` workers, configured
    in Dask's configuration files, see docs/SCALING.md), or a scheduler address
    (``tcp://host:8786``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError(f"--cluster needs Dask: {INSTALL}") from None
    if spec == "local":
        # one torch thread per worker process, as in local grading (a shared machine)
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None, env={"OMP_NUM_THREADS": "1"})
    elif spec == "slurm":
        try:
            from dask_jobqueue import SLURMCluster
        except ImportError:
            raise ClusterError("--cluster slurm needs dask-jobqueue: pip install dask-jobqueue "
                               f"(and {INSTALL})") from None
        cluster = SLURMCluster()  # cores, memory, queue, ...: Dask's jobqueue.slurm config
        cluster.scale(jobs)
    elif spec == "kubernetes":
        try:
            from dask_kubernetes.operator import KubeCluster
        except ImportError:
            raise ClusterError("--cluster kubernetes needs dask-kubernetes: pip install "
                               f"dask-kubernetes (and {INSTALL})") from None
        cluster = KubeCluster(name="llmcourse-grade", n_workers=jobs)  # image: Dask's config
    elif "://" in spec or ":" in spec:
        try:
            return Client(spec, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise ClusterError(f"no Dask scheduler answers at {spec} ({e})") from None
    else:
        raise ClusterError(f"--cluster takes {', '.join(KINDS)} or a scheduler address "
                           f"(tcp://host:8786), not {spec!r}")
    return Client(cluster)


def request(student: str, folder: Path | None, notebooks: list[str], *, assignment: str,
            chapter_id: str, seed: int, budget_s: float | None, fingerprint: str) -> str:
    """The JSON request for one submission: its notebook files, read here (the client)."""
    files = {}
    if folder is not None:
        for path in sorted(folder.glob("*.ipynb")):
            files[path.name] = base64.b64encode(path.read_bytes()).decode("ascii")
    return json.dumps({"student": student, "assignment": assignment, "chapter": chapter_id,
                       "notebooks": notebooks, "seed": seed, "budget_s": budget_s,
                       "fingerprint": fingerprint, "submitted": folder is not None,
                       "files": files})


_WORKER: dict = {}  # per worker process: the plan, sandbox and fingerprint of each (chapter, seed)


def grade_request(request_json: str) -> str:
    """Runs on a Dask worker: grade one submission, return its result record as JSON."""
    req = json.loads(request_json)
    key = (req["chapter"], req["seed"])
    if key not in _WORKER:
        chapter = get_chapter(req["chapter"])
        _WORKER[key] = (chapter, plan_for(chapter, seed=req["seed"]), detect("auto"),
                        batch.grader_fingerprint(req["seed"]))
    chapter, plan, sandbox, fingerprint = _WORKER[key]
    if fingerprint != req["fingerprint"]:
        return json.dumps({"worker_fingerprint": fingerprint})
    with tempfile.TemporaryDirectory(prefix="llmcourse-remote-") as tmp:
        folder = None
        if req["submitted"]:
            folder = Path(tmp) / req["assignment"]
            folder.mkdir()
            for name, data in req["files"].items():
                (folder / Path(name).name).write_bytes(base64.b64decode(data))
        record = batch.grade_folder(req["student"], folder, req["assignment"], chapter,
                                    req["notebooks"], plan=plan, sandbox=sandbox, slot=0,
                                    seed=req["seed"], budget_s=req["budget_s"])
    return json.dumps(record, ensure_ascii=False)


def remote_grader(client):
    """What ``batch.grade_all(remote=...)`` calls to grade on ``client``'s cluster."""
    return partial(grade_on_cluster, client)


def grade_on_cluster(client, todo: list, *, notebooks: list[str], assignment: str, chapter,
                     seed: int, budget_s: float | None, fingerprint: str):
    """Yield (student, digests, record) as the cluster finishes each submission of ``todo``
    ((student, folder, digests) triples), in completion order."""
    from distributed import as_completed

    futures = {}
    for student, folder, digests in todo:
        req = request(student, folder, notebooks, assignment=assignment, chapter_id=chapter.id,
                      seed=seed, budget_s=budget_s, fingerprint=fingerprint)
        futures[client.submit(grade_request, req, pure=False)] = (student, digests)
    for future in as_completed(futures):
        student, digests = futures.pop(future)
        try:
            record = json.loads(future.result())
        except Exception as e:  # noqa: BLE001 - e.g. KilledWorker: this submission only
            record = {"failure": f"not graded: the cluster lost it ({type(e).__name__})",
                      "log": f"{type(e).__name__}: {e}"}
        if "worker_fingerprint" in record:
            record = {"failure": "not graded: a worker runs another version of llmcourse",
                      "log": f"worker grader fingerprint {record['worker_fingerprint']}, "
                             f"this one {fingerprint}: install the same llmcourse everywhere"}
        if "notebooks" not in record:  # a failure made here: the shape of grade_folder's
            record = {"version": batch.RESULT_VERSION, "student": student, "assignment": assignment,
                      "notebooks": {}, "warnings": [], "seconds": 0.0} | record
        yield student, digests, record
