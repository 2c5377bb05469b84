"""A student's first hour in a real browser: JupyterLab driven by Playwright in Chromium.

Open an untouched assignment and Run All: every code cell runs and every figure draws (check
cells fail without stopping the run). Then, through the editor, a right answer for one exercise and
a wrong one for another; their check cells show the ✓ and the named mistake; the notebook is saved
and `llmcourse check` grades the saved file the same way.

Needs Chromium (Debian's `chromium`, installed by .ci/run) and the `playwright` package (extra
`test`); where either is missing the test is reported as skipped. On failure a screenshot is left in
build/test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder.build import ROOT, output_paths
from autograder.examples import answer_source

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "build" / "test-artifacts"
pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free local port, serving ``tmp_path``, with its own settings (the whole
    notebook in the page: no virtual scrolling, so that every cell can be found)."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    settings = tmp_path / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1",
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / ".settings"),
               JUPYTER_CONFIG_DIR=str(tmp_path / ".config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / ".runtime"))
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.Popen([str(jupyter), "lab", "--no-browser", f"--port={port}",
                             "--ServerApp.token=course", "--allow-root",
                             f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url="],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/api?token=course", timeout=1)
            break
        except OSError:
            time.sleep(0.25)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start within 50 s")
    yield base
    proc.terminate()
    proc.wait(timeout=20)


def _cell_index(nb, role: str, exercise_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells)
                if c.metadata.get("llmcourse", {}).get("role") == role
                and c.metadata["llmcourse"].get("exercise") == exercise_id)


def test_run_all_then_a_right_and_a_wrong_answer(lab, tmp_path, ch04, llmcourse):
    from playwright.sync_api import sync_playwright

    path = tmp_path / "ch04_attention.ipynb"
    shutil.copy(output_paths(ch04)[0], path)
    release = nbformat.read(path, as_version=4)
    right, wrong = ch04.exercise("ch04.softmax"), ch04.exercise("ch04.layer_norm")
    mistake = wrong.mistake("unbiased_variance")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.goto(f"{lab}/lab/tree/{path.name}?token=course")
            idle = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
            # every cell in the page (the notebook renders progressively on a busy machine)
            page.wait_for_function("n => document.querySelectorAll('.jp-Notebook .jp-Cell')"
                                   ".length === n", arg=len(release.cells), timeout=90_000)
            page.wait_for_selector(idle, timeout=60_000)
            cells = page.locator(".jp-Notebook .jp-Cell")

            # Run All on the untouched notebook: every code cell runs, every figure draws
            page.click("text=Run")
            page.click("text=Run All Cells")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                ".every(p => /\\[\\d+\\]/.test(p.textContent))", timeout=120_000)
            page.wait_for_selector(idle, timeout=120_000)
            figures = page.locator(".jp-OutputArea-output img").count()
            assert figures >= 5
            failed = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert failed.count() >= len(ch04.exercises)
            assert "✗ softmax: public check failed" in page.inner_text(".jp-Notebook")

            # a right answer and a wrong one, typed into their answer cells, then checked
            answers = {right.id: answer_source(right.reference, right.name),
                       wrong.id: answer_source(mistake.impl, wrong.name)}
            for ex_id, text in answers.items():
                cell = cells.nth(_cell_index(release, "answer", ex_id))
                cell.scroll_into_view_if_needed()
                cell.locator(".cm-content").click()
                page.keyboard.press("Control+A")
                page.keyboard.insert_text(text)
                page.keyboard.press("Shift+Enter")  # runs the answer, selects its check cell
                page.keyboard.press("Shift+Enter")  # runs the check
                page.wait_for_selector(idle, timeout=60_000)
            check = cells.nth(_cell_index(release, "check", right.id))
            page.wait_for_function("el => el.innerText.includes('public checks passed')",
                                   arg=check.element_handle(), timeout=60_000)
            check = cells.nth(_cell_index(release, "check", wrong.id))
            page.wait_for_function("el => el.innerText.includes('likely mistake')",
                                   arg=check.element_handle(), timeout=60_000)
            assert f"likely mistake: {mistake.title}" in check.inner_text()
            page.keyboard.press("Control+S")
            page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')",
                                   timeout=30_000)
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "browser-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    saved = nbformat.read(path, as_version=4)
    drawn = sum("image/png" in o.get("data", {}) for c in saved.cells if c.cell_type == "code"
                for o in c.get("outputs", []))
    assert drawn == figures  # every figure the kernel made was shown
    result = json.loads(llmcourse("check", str(path), "--json").stdout)
    points = {e["id"]: e for e in result["exercises"]}
    assert points[right.id]["passed"] and points[right.id]["points"] == right.points
    assert not points[wrong.id]["passed"]
    assert f"likely mistake: {mistake.title}. {mistake.hint}" in points[wrong.id]["messages"]
