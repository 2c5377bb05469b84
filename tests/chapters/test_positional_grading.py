"""The property checks of Chapter 5's hidden tests (autograder/chapters/ch05_positional.py) can
fail: each one accepts the reference's outputs on its cases and rejects an output that breaks the
property it states. (That every catalogued mistake is caught and named, and that every alternative
passes, is proven for all chapters by tests/chapters/test_catalogs.py.)"""

import pytest
import torch

from autograder.cases import build_cases, run_reference
from autograder.chapters import get_chapter

CHAPTER = get_chapter("ch05")


def _cases_with_checks(ex_id):
    ex = CHAPTER.exercise(ex_id)
    out = []
    for case in build_cases(ex):
        if case.checks:
            outputs, _ = run_reference(ex.reference, ex, case)
            out.append((case, outputs))
    assert out, f"{ex_id} has no case with property checks"
    return out


def _flip_rotation(o):  # a different rotation of the same size: swap the members of each pair
    return o.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)


BREAKERS = {
    "ch05.sinusoidal_positional_encoding": lambda outs: [outs[0] * 1.1],
    "ch05.sinusoidal_shift_matrix": lambda outs: [outs[0].T * 1.1],
    "ch05.t5_relative_position_bucket": lambda outs: [outs[0] + 64],
    "ch05.alibi_slopes": lambda outs: [outs[0] * 1.5],
    "ch05.alibi_bias": lambda outs: [outs[0] - 0.5],
    "ch05.rope_cache": lambda outs: [outs[0] * 0.9, outs[1]],
    "ch05.apply_rope": lambda outs: ([outs[0] * 1.1] if len(outs) == 1
                                     else [outs[0], outs[1] + 0.1 * outs[1].abs().max()]),
    "ch05.rope_complex": lambda outs: [_flip_rotation(outs[0])],
    "ch05.encoding_spectrum": lambda outs: [outs[0] * 1.5],
    "ch05.dominant_frequencies": lambda outs: [outs[0] + 3.0 / 128],
}


@pytest.mark.parametrize("ex_id", list(BREAKERS))
def test_checks_accept_the_reference_and_reject_a_violation(ex_id):
    for case, outputs in _cases_with_checks(ex_id):
        for check in case.checks:
            assert check(outputs, case) is None, (case.name, check(outputs, case))
        broken = BREAKERS[ex_id](outputs)
        verdicts = [check(broken, case) for check in case.checks]
        assert any(verdicts), f"{case.name}: no check noticed the broken output"


def test_rope_property_cases_cover_each_identity():
    names = [c.name for c in build_cases(CHAPTER.exercise("ch05.apply_rope"))]
    for identity in ("R_n R_m x = R_(m+n) x", "scores depend only on m − n", "layouts agree"):
        assert sum(identity in n for n in names) >= 2, identity


def test_leaking_tones_are_caught_by_the_check_not_by_the_comparison():
    """The on-bin tone cases exist for one mistake: angles 2πkp/P rounded before they are reduced.
    In bfloat16 the comparison with the reference (64 ulps of the peak) lets it through; the check
    that tones stay in their bins does not, in bfloat16 and in float32."""
    from autograder import tolerance
    from autograder.cases import prepare

    ex = CHAPTER.exercise("ch05.encoding_spectrum")
    [mistake] = [m for m in ex.mistakes if m.key == "angle_not_reduced"]
    tones = [(i, c) for i, c in enumerate(build_cases(ex)) if "large angles" in c.tags]
    assert {c.dtype for _, c in tones} >= {torch.bfloat16, torch.float32}
    for index, case in tones:
        prepared = prepare(ex, case, index)
        leaked, _ = run_reference(mistake.impl, ex, case)
        verdicts = [check(leaked, case) for check in case.checks]
        if case.dtype == torch.float64:  # float64 angles need no reduction (the notebook says so)
            assert not any(verdicts), (case.name, verdicts)
            continue
        assert any(verdicts), f"{case.name}: the leak went unnoticed"
        if case.dtype == torch.bfloat16:
            assert tolerance.compare(leaked[0], prepared.truth[0], prepared.allowed[0]).ok, \
                "the comparison alone now catches it: the check may no longer be needed"
