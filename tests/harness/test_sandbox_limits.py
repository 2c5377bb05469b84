"""The worker's resource limits (``sandbox.rlimits``): one list that both modes apply (prlimit
flags in the strict mode, setrlimit in the plain mode's preexec), with host memory bounded for
CUDA jobs too — by RLIMIT_DATA, which CUDA's huge PROT_NONE address reservations do not count
against. Without a GPU here, the CUDA side is confirmed by ``.ci/cuda-check``; these tests prove
the limit bounds real allocations and leaves a torch import working."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from autograder import sandbox
from autograder.sandbox import Limits, Sandbox, apply_rlimits, rlimits

MiB = 1 << 20


def _prlimit_flags(use_cuda: bool, tmp_path, limits=Limits()) -> list[str]:
    cmd = Sandbox("strict").command(tmp_path, [], use_cuda=use_cuda, limits=limits)
    i = cmd.index("prlimit")
    return cmd[i + 1:cmd.index("--", i)]


def test_strict_cuda_job_bounds_data_not_address_space(tmp_path):
    flags = _prlimit_flags(True, tmp_path, Limits(data=3 << 30))
    assert f"--data={3 << 30}" in flags
    assert not any(f.startswith("--as=") for f in flags), flags


def test_strict_cpu_job_bounds_address_space_not_data(tmp_path):
    flags = _prlimit_flags(False, tmp_path, Limits(address_space=5 << 30))
    assert f"--as={5 << 30}" in flags
    assert not any(f.startswith("--data=") for f in flags), flags


@pytest.mark.parametrize("use_cuda", [False, True], ids=["cpu", "cuda"])
def test_strict_flags_are_the_shared_limits_plus_processes(tmp_path, use_cuda):
    """One source: every limit of ``rlimits`` is a prlimit flag, plus the per-uid process cap."""
    flags = _prlimit_flags(use_cuda, tmp_path)
    names = {resource.RLIMIT_CPU: "cpu", resource.RLIMIT_FSIZE: "fsize",
             resource.RLIMIT_CORE: "core", resource.RLIMIT_NOFILE: "nofile",
             resource.RLIMIT_AS: "as", resource.RLIMIT_DATA: "data"}
    expected = [f"--{names[r]}={v}" for r, v in rlimits(Limits(), use_cuda)]
    assert flags == [*expected, f"--nproc={sandbox.MAX_PROCESSES}"]


def _run_limited(code: str, limits: Limits, use_cuda: bool, before=None):
    def preexec():  # as the plain mode's preexec does
        if before is not None:
            before()
        apply_rlimits(limits, use_cuda)
    return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                          timeout=120, preexec_fn=preexec)


def test_data_limit_stops_a_host_allocation_beyond_it():
    code = ("import resource\n"
            "assert resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY\n"
            "small = bytearray(64 << 20)\n"  # well under the limit: fine
            "try:\n    bytearray(1 << 30)\nexcept MemoryError:\n    print('MemoryError')\n"
            "else:\n    print('allocated')\n")
    limits = Limits(data=512 * MiB)
    proc = _run_limited(code, limits, use_cuda=True)
    assert proc.stdout.strip() == "MemoryError", proc.stderr
    unlimited = _run_limited(code, Limits(data=4 << 30), use_cuda=True)
    assert unlimited.stdout.strip() == "allocated", unlimited.stderr  # the limit was the cause


def test_torch_works_under_the_data_limit():
    proc = _run_limited("import torch\nprint(float(torch.zeros(10).add(1).sum()))",
                        Limits(data=2 << 30), use_cuda=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "10.0", proc.stderr


def test_limits_above_the_inherited_hard_limit_are_capped():
    def lower_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))
    proc = _run_limited("import resource\nprint(resource.getrlimit(resource.RLIMIT_NOFILE))",
                        Limits(), use_cuda=False, before=lower_nofile)
    assert proc.returncode == 0 and proc.stdout.strip() == "(100, 100)", proc.stderr


STRICT_REASON = sandbox._probe()


@pytest.mark.skipif(bool(STRICT_REASON), reason=f"strict sandbox unavailable: {STRICT_REASON}")
def test_strict_cuda_mode_job_runs_under_the_data_limit(tmp_path):
    """The strict command of a CUDA job (here without a GPU: no device nodes to bind) applies
    RLIMIT_DATA inside the sandbox, after the drop to the slot's uid."""
    job_in = tmp_path / "in"
    job_in.mkdir(mode=0o755)
    job_in.chmod(0o755)
    tmp_path.chmod(0o755)
    (job_in / "worker.py").write_text(
        "import resource\n"
        "print(resource.getrlimit(resource.RLIMIT_DATA)[0] >> 20)\n"
        "try:\n    bytearray(1 << 30)\nexcept MemoryError:\n    print('MemoryError')\n")
    (job_in / "worker.py").chmod(0o644)
    with sandbox.slot_lease(0) as slot:
        cmd = Sandbox("strict").command(job_in, [], slot=slot, use_cuda=True,
                                        limits=Limits(data=512 * MiB))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["512", "MemoryError"], proc.stderr
