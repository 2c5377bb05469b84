"""llmcourse: auto-graded assignments for "Understanding LLMs - A Mathematical Approach".

    llmcourse start CHAPTER                your own copy of a chapter's notebook, in work/
    llmcourse check [NOTEBOOK|CHAPTER]     grade a notebook out of process (a chapter id: your
                                           copy in work/; nothing: the bundled sample)
    llmcourse build [CHAPTER ...]          course/ → assignments/ + solutions/, behind the release gate
    llmcourse sync-check                   fail when assignments/ or solutions/ are out of date
    llmcourse course init DIR [CHAPTER ...] create a ready nbgrader course directory
    llmcourse grade COURSE_DIR ASSIGNMENT  grade nbgrader submissions and write the gradebook
    llmcourse otter CHAPTER [--out DIR]    otter-grader edition: student notebook + Gradescope zip
    llmcourse chapters                     list the chapters and their exercises
    llmcourse train [--text FILE]          train the reference GPT (synthetic corpus or your text)
    llmcourse generate --checkpoint FILE   continue a prompt with a model that train saved
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
from functools import partial
from pathlib import Path

from autograder import baked
from autograder.chapters import chapter_ids

# Commands that only list or locate (--help, chapters, start) answer at once: PyTorch, the grader
# and the build are imported by the commands that use them, inside their functions.
ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ROOT / "assignments"
SAMPLE = ROOT / "examples" / "ch04_sample_submission.ipynb"  # written by examples.write_sample


def _table(result) -> str:
    width = shutil.get_terminal_size((110, 20)).columns
    rows = []
    name_w = max(len(e.name) for e in result.exercises)
    head = f"{'exercise':<{name_w}}  {'points':>9}  verdict   message"
    rows.append(head)
    rows.append("-" * min(width, max(len(head), 80)))
    msg_w = max(30, width - name_w - 24)
    # notes on the whole run (CUDA ungraded here, the sandbox's mode) carried by every exercise
    # that ran code (a formula is read, not run), said once below the table
    from autograder.batch import shared_notes  # a grading command: the grader is loaded already

    kinds = {e["id"]: e["kind"] for e in baked.load(result.chapter).summary["exercises"]}
    shared = shared_notes([(kinds.get(e.id) != "symbolic" and not e.ungraded, e.messages)
                           for e in result.exercises])
    for e in result.exercises:
        verdict = "pass" if e.passed else "ungraded" if e.ungraded else "FAIL"
        pts = f"{e.points:g}/{e.max_points:g}"
        lines = []
        for m in e.messages:
            if m not in shared:
                lines += textwrap.wrap(m, msg_w) or [""]
        first, rest = (lines[0], lines[1:]) if lines else ("", [])
        if e.held:
            rest += textwrap.wrap("HELD FOR REVIEW: an instructor reads these lines before the "
                                  "points count", msg_w)
            rest += [line for f in e.review for line in textwrap.wrap(
                f, msg_w, initial_indent="  ", subsequent_indent="    ")]
        rows.append(f"{e.name:<{name_w}}  {pts:>9}  {verdict:<8}  {first}")
        rows += [f"{'':<{name_w}}  {'':>9}  {'':<8}  {line}" for line in rest]
    rows.append("-" * min(width, max(len(head), 80)))
    extra = (f"  (+{result.ungraded_points:g} points ungraded on this machine)"
             if result.ungraded_points else "")
    rows.append(f"{'total':<{name_w}}  {result.total:g}/{result.max_total:g}{extra}".rstrip())
    held = [e.name for e in result.exercises if e.held]
    if held:
        rows.append(f"HELD FOR REVIEW: {', '.join(held)} (lines that no answer needs, listed "
                    "above; the points count once an instructor has read them)")
    rows += [f"note: {m}" for m in shared]
    return "\n".join(rows)


# students' own copies of the assignments (git-ignored; $LLMCOURSE_WORK puts them elsewhere)
WORK = Path(os.environ.get("LLMCOURSE_WORK") or ROOT / "work")


def summaries() -> dict[str, dict]:
    """Chapter id -> its baked summary (``baked``: no chapter module is imported)."""
    return {cid: baked.load(cid).summary for cid in chapter_ids()}


def find_summary(key: str) -> tuple[str, dict]:
    """(chapter id, summary) by id ("ch04") or assignment name ("ch04_attention")."""
    for cid, summary in summaries().items():
        if key in (cid, summary["notebook"].split("/")[0]):
            return cid, summary
    raise KeyError(f"unknown chapter {key!r}; known: {', '.join(chapter_ids())}")


def work_copy(summary: dict) -> Path:
    """Where ``llmcourse start`` puts a chapter's student notebook."""
    return WORK / summary["notebook"]


def cmd_start(args) -> int:
    """Copy a chapter's student notebook to work/, outside version control, and say what next."""
    try:
        cid, summary = find_summary(args.chapter)
    except KeyError as e:
        print(f"llmcourse start: {e.args[0]}", file=sys.stderr)
        return 2
    target = work_copy(summary)
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    if target.exists():
        print(f"{shown} already exists (your work): open it, or delete it to start over")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ASSIGNMENTS / summary["notebook"], target)
    print(f"wrote {shown}: your copy, outside version control (git pull never touches it)\n"
          f"  open it:  jupyter lab {shown}\n"
          f"  check it: llmcourse check {cid}")
    return 0


class NotANotebook(Exception):
    """The argument of ``check`` names no notebook; the message says what to pass instead."""


def _notebook_path(arg: str | None) -> str:
    """The notebook ``check`` grades: a path; a chapter id or assignment name, meaning that
    chapter's copy in work/ (see ``llmcourse start``); nothing, meaning the bundled sample.
    Checked before anything heavy is imported, so that a wrong argument answers at once."""
    if arg is None:
        return str(SAMPLE)
    path = Path(arg)
    if not path.exists() and "/" not in arg and path.suffix == "":
        try:
            cid, summary = find_summary(arg)
        except KeyError:
            raise NotANotebook(f"{arg}: no such notebook file, and no chapter of that name "
                               f"({', '.join(chapter_ids())})") from None
        target = work_copy(summary)
        if not target.exists():
            raise NotANotebook(f"no work copy of {cid} yet: run `llmcourse start {cid}` first "
                               "(or give a notebook's path)")
        return str(target)
    if path.is_dir():
        raise NotANotebook(f"{arg} is a folder: pass the notebook (.ipynb) inside it")
    if not path.exists():
        raise NotANotebook(f"{arg}: no such notebook file")
    if path.suffix == ".py":
        raise NotANotebook(f"{arg} is Python source: pass the .ipynb notebook (a percent-format "
                           "source converts with `jupytext --to ipynb`)")
    return arg


def _warn_if_another_chapter(path: str, chapter: str) -> None:
    """``--chapter`` overrides detection; say so when the notebook's own cells name another."""
    from autograder.chapters import all_chapters, get_chapter
    from autograder.submission import SubmissionError, detect_chapter, read_notebook

    try:
        found = detect_chapter(read_notebook(path), all_chapters(), path)
        asked = get_chapter(chapter)
    except (SubmissionError, KeyError, ValueError):
        return  # the grading that follows reports these
    if found.id != asked.id:
        print(f"llmcourse check: warning: {path} looks like {found.label}'s notebook "
              f"({found.id}); graded as {asked.label}'s ({asked.id}), as --chapter asks",
              file=sys.stderr)


def cmd_check(args) -> int:
    try:
        path = _notebook_path(args.notebook)
    except NotANotebook as e:
        print(f"llmcourse check: {e}", file=sys.stderr)
        return 2
    from autograder.grade import grade_notebook
    from autograder.plancache import cached_plan
    from autograder.sandbox import detect
    from autograder.submission import SubmissionError

    if args.chapter:
        _warn_if_another_chapter(path, args.chapter)
    try:
        make_plan = None if args.no_cache else partial(cached_plan, seed=args.seed)
        result = grade_notebook(path, args.chapter, seed=args.seed, sandbox=detect(args.sandbox),
                                make_plan=make_plan)
    except SubmissionError as e:
        print(f"llmcourse check: {e}", file=sys.stderr)
        return 2
    except KeyError as e:
        print(f"llmcourse check: {e.args[0]}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # --sandbox strict where it is unavailable
        print(f"llmcourse check: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        print(f"{path}  ({result.chapter})")
        print(_table(result))
    return 0


def cmd_build(args) -> int:
    from autograder.build import BuildError, build
    from autograder.examples import write_sample

    try:
        build(args.chapters or chapter_ids(), execute_solutions=not args.no_execute)
        if not args.chapters:
            print(f"wrote {write_sample().relative_to(ROOT)}")
    except BuildError as e:
        print(f"llmcourse build: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_sync_check(args) -> int:
    from autograder.build import out_of_date_all
    from autograder.chapters import get_chapter

    found = out_of_date_all([get_chapter(cid) for cid in chapter_ids()])
    reasons = [r for chapter_reasons in found.values() for r in chapter_reasons]
    for r in reasons:
        print(f"out of date: {r}")
    if reasons:
        print("run `llmcourse build` and commit assignments/ and solutions/", file=sys.stderr)
        return 1
    print("assignments/ and solutions/ are in sync with course/")
    return 0


def cmd_grade(args) -> int:
    from autograder.gradebook import grade_course  # needs the instructor extra (nbgrader)
    from autograder.sandbox import detect

    try:
        sandbox = detect(args.sandbox)
    except RuntimeError as e:
        print(f"llmcourse grade: {e} (use --sandbox plain to grade without it)", file=sys.stderr)
        return 2
    # a SIGTERM (a scheduler's stop, `kill`) unwinds like Ctrl-C: the job folders holding
    # students' code are removed on the way out, and the results stored so far are kept
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    try:
        return grade_course(Path(args.course_dir), args.assignment, students=args.student,
                            jobs=args.jobs, regrade=args.regrade, budget_s=args.budget,
                            sandbox=sandbox, seed=args.seed, cluster=args.cluster, log=print)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def cmd_course(args) -> int:
    from autograder.gradebook import init_course  # needs the instructor extra (nbgrader)

    return init_course(Path(args.dir), args.chapters, log=print)


def cmd_otter(args) -> int:
    from autograder.build import BuildError
    from autograder.otter import generate  # needs the instructor extra (otter-grader)

    try:
        generate(args.chapter, Path(args.out) if args.out else None, verify=not args.no_verify)
    except (BuildError, KeyError) as e:
        print(f"llmcourse otter: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_chapters(args) -> int:
    """The chapters in the book's order, from their baked summaries (no PyTorch import)."""
    found = summaries()
    if args.json:
        print(json.dumps([{
            "id": cid, "title": s["title"], "points": s["points"], "notebook": s["notebook"],
            "exercises": s["exercises"],
            "mistakes": sum(e["mistakes"] for e in s["exercises"]),
        } for cid, s in found.items()], ensure_ascii=False, indent=1))
        return 0
    for cid, s in found.items():
        print(f"{s['label']}: {s['title']}  ({s['points']:g} points)  "
              f"assignments/{s['notebook']}")
        for e in s["exercises"]:
            kind = "  (derivation: a formula)" if e["kind"] == "symbolic" else ""
            print(f"    {e['id']:<40} {e['points']:g} point{'' if e['points'] == 1 else 's'}"
                  f"{kind}")
    return 0


def _set_threads(args) -> None:
    """Torch's CPU threads for train and generate: ``--threads`` (default 1). The course's models
    are small, so one thread per process is about as fast as two on a quiet 2-core machine, and
    stays fast when a neighbour is busy, where two spinning threads were measured 90 times slower
    (408 against 36 378 tokens/s for ``llmcourse train``)."""
    import torch

    torch.set_num_threads(max(1, args.threads))


def cmd_train(args) -> int:
    from reference.train import main_job

    _set_threads(args)
    try:
        main_job(max_steps=args.steps, device=args.device, dtype=args.dtype, seed=args.seed,
                 checkpoint_path=args.checkpoint, progress=not args.quiet, text_path=args.text,
                 text_vocab_size=args.vocab_size, context_length=args.context_length)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        print(f"llmcourse train: {e}", file=sys.stderr)
        return 2
    return 0


def _sampling_error(args) -> str | None:
    """What is wrong with ``llmcourse generate``'s sampling options, or None."""
    if args.max_new_tokens < 0:
        return f"--max-new-tokens must be 0 or more, got {args.max_new_tokens}"
    if not args.temperature >= 0:  # NaN too
        return f"--temperature must be 0 (greedy) or more, got {args.temperature:g}"
    if args.top_k is not None and args.top_k < 1:
        return f"--top-k must be at least 1, got {args.top_k}"
    if args.top_p is not None and not 0 < args.top_p <= 1:
        return f"--top-p must be in (0, 1], got {args.top_p:g}"
    return None


def cmd_generate(args) -> int:
    import torch

    from reference import decoding
    from reference.train import load_for_generation

    def fail(message) -> int:
        print(f"llmcourse generate: {message}", file=sys.stderr)
        return 2

    problem = _sampling_error(args)
    if problem:
        return fail(problem)
    _set_threads(args)
    try:
        model, encode, decode = load_for_generation(args.checkpoint, args.device)
        # an empty prompt: a newline for text (where a line starts); the synthetic corpus's
        # encode finds no integer in it, so its token 0
        ids = encode(args.prompt) or encode("\n") or [0]
    except (OSError, ValueError) as e:
        return fail(e)
    room = model.context_length - len(ids)
    if room < 1:
        return fail(f"the prompt is {len(ids)} tokens and the model's context holds "
                    f"{model.context_length}: no room to generate; shorten the prompt")
    n_new = min(args.max_new_tokens, room)
    if n_new < args.max_new_tokens:
        print(f"note: {len(ids)} prompt tokens + {args.max_new_tokens} new ones exceed the "
              f"model's context of {model.context_length}; generating {n_new}", file=sys.stderr)
    device = model.lm_head.weight.device
    generator = torch.Generator(device=device).manual_seed(args.seed)
    out = decoding.generate(model, torch.tensor([ids], device=device), n_new,
                            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                            generator=generator, use_cache=not args.no_cache)  # (1, T0 + n_new)
    print(decode(out[0].tolist()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmcourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("start", help="copy a chapter's student notebook to work/ (yours to edit)")
    p.add_argument("chapter", help="chapter id, e.g. ch04 (or appA)")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("check", help="grade one notebook (out of process) and print the scores")
    p.add_argument("notebook", nargs="?",
                   help="a notebook's path, or a chapter id for its copy in work/ (llmcourse "
                        f"start); default: {SAMPLE.relative_to(ROOT)}")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.add_argument("--chapter", help="e.g. ch04 (default: detected from the notebook)")
    p.add_argument("--seed", type=int, default=0, help="input-generation seed (default 0)")
    p.add_argument("--no-cache", action="store_true",
                   help="run the reference again instead of reading its outputs from the plan "
                        "cache (~/.cache/llmcourse, or $LLMCOURSE_CACHE)")
    p.add_argument("--sandbox", choices=("auto", "strict", "plain"), default="auto",
                   help="strict: OS sandbox (bubblewrap) or fail; auto: strict where available")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("build", help="generate assignments/ and solutions/ from course/")
    p.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    p.add_argument("--no-execute", action="store_true", help="do not execute the solutions")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("sync-check", help="fail if generated notebooks are out of date")
    p.set_defaults(func=cmd_sync_check)

    p = sub.add_parser("grade", help="grade nbgrader submissions out of process into the gradebook")
    p.add_argument("course_dir", help="the nbgrader course directory (has submitted/)")
    p.add_argument("assignment", help="assignment name, e.g. ch04_attention")
    p.add_argument("--student", action="append", help="only these students (repeatable)")
    p.add_argument("--jobs", "-j", type=int, default=min(2, os.cpu_count() or 1),
                   help="submissions graded in parallel (default: 2, or 1 on one core)")
    p.add_argument("--regrade", action="store_true",
                   help="grade again even where an earlier run's result is still valid")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="wall-time budget per submission (default: the sum of the chapter's "
                        "absolute per-exercise limits, runner.default_budget)")
    p.add_argument("--sandbox", choices=("strict", "plain"), default="strict",
                   help="strict (default on Linux): bubblewrap sandbox, refuse if unavailable")
    p.add_argument("--seed", type=int, default=None,
                   help="input-generation seed, for reproducing a result; the default is the "
                        "course's secret seed (COURSE_DIR/llmcourse/secret_seed, drawn on first "
                        "use)")
    p.add_argument("--cluster", metavar="WHERE", default=None,
                   help="grade on Dask workers: local (a local cluster of --jobs processes), "
                        "slurm, kubernetes, or a scheduler address tcp://host:8786 (extra "
                        "`cluster`; docs/SCALING.md)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("course", help="set up an nbgrader course directory for instructors")
    course = p.add_subparsers(dest="course_command", required=True)
    p = course.add_parser("init", help="new course directory: source/, release/, gradebook.db")
    p.add_argument("dir", help="the directory to create (must not exist or be empty)")
    p.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    p.set_defaults(func=cmd_course)

    p = sub.add_parser("otter", help="otter-grader edition: student notebook + Gradescope zip")
    p.add_argument("chapter", help="chapter id, e.g. ch04")
    p.add_argument("--out", help="output directory (default: build/otter/<assignment>/)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip otter's run on the solutions and the untouched-notebook check")
    p.set_defaults(func=cmd_otter)

    p = sub.add_parser("chapters", help="list chapters and exercises")
    p.add_argument("--json", action="store_true",
                   help="as JSON, with the counts of catalogued mistakes")
    p.set_defaults(func=cmd_chapters)

    p = sub.add_parser("train", help="train the reference GPT on the bundled synthetic corpus")
    p.add_argument("--steps", type=int, default=1000,
                   help="optimizer steps (default: 1000, about 30 s on 2 CPU cores)")
    p.add_argument("--device", default="auto", help="cpu, cuda, ... (default: CUDA if present)")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                   help="autocast dtype (default: bfloat16 on CUDA, float32 on CPU)")
    p.add_argument("--seed", type=int, default=0, help="corpus, initialisation and batch order")
    p.add_argument("--checkpoint", default=None, help="save to / resume from this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--text", metavar="FILE", default=None,
                   help="train on your own UTF-8 text file instead (first 1M characters; the "
                        "last 10%% for validation; loss also in bits per byte)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1, fastest for these small models on a "
                        "shared machine)")
    p.add_argument("--context-length", type=int, default=32,
                   help="tokens the model sees at once, and the most that llmcourse generate can "
                        "write from its checkpoint, prompt included (default: 32)")
    p.add_argument("--vocab-size", type=int, default=256,
                   help="with --text: 256 = raw bytes (default), more = byte-level BPE trained "
                        "on the text")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="continue a prompt with a model saved by llmcourse train",
                       description="Print the prompt followed by the model's continuation. The "
                                   "prompt and the new tokens together fit in the model's "
                                   "context: --max-new-tokens is lowered to fit (with a note on "
                                   "stderr).")
    p.add_argument("--checkpoint", required=True, metavar="FILE",
                   help="a checkpoint written by llmcourse train --checkpoint")
    p.add_argument("--prompt", default="",
                   help="text to continue; for the synthetic corpus, token ids separated by "
                        "spaces (default: empty, which starts from a newline for a text model "
                        "and from token 0 for the synthetic corpus; that start is printed too)")
    p.add_argument("--max-new-tokens", type=int, default=200, metavar="N",
                   help="tokens to generate (default: 200, fewer where the context ends)")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="divides the logits; 0 = greedy, always the most likely token "
                        "(default: 1.0)")
    p.add_argument("--top-k", type=int, default=None, metavar="K",
                   help="sample among the K most likely tokens only (default: all)")
    p.add_argument("--top-p", type=float, default=None, metavar="P",
                   help="nucleus sampling: among the most likely tokens whose probabilities "
                        "add up to P, 0 < P <= 1 (default: all)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the sampler: the same seed gives the same text (default: 0)")
    p.add_argument("--device", default="auto",
                   help="auto (default: CUDA if present), cpu or cuda")
    p.add_argument("--no-cache", action="store_true",
                   help="feed the whole sequence at every step instead of using the key/value "
                        "cache (slower; the same tokens up to the rounding of the logits)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1, fastest for these small models on a "
                        "shared machine)")
    p.set_defaults(func=cmd_generate)

    args = parser.parse_args(argv)
    return args.func(args)


def command() -> None:
    """The ``llmcourse`` console command: :func:`main`, then, with everything written and flushed,
    an exit without the interpreter's teardown (with torch loaded it takes ~0.6 s)."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    command()
