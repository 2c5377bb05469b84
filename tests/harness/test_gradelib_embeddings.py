"""gradelib.embeddings: Chapter 3's stand-ins agree with the reference in float64 (zero rows, the
loss and its gradients) and are registered for the exercises they stand in for."""

import torch

from autograder import gradelib
from autograder.gradelib.embeddings import cosine_similarity_matrix, sgns_loss
from reference import embeddings as ref

F64 = torch.float64


def test_stand_ins_agree_with_the_reference_in_float64():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 3, generator=g, dtype=F64), torch.randn(4, 3, generator=g, dtype=F64)
    a[1] = 0.0
    torch.testing.assert_close(cosine_similarity_matrix(a, b), ref.cosine_similarity_matrix(a, b))
    w_in = torch.randn(9, 4, generator=g, dtype=F64, requires_grad=True)
    w_out = torch.randn(9, 4, generator=g, dtype=F64, requires_grad=True)
    center, context = torch.randint(0, 9, (6,), generator=g), torch.randint(0, 9, (6,), generator=g)
    negatives = torch.randint(0, 9, (6, 3), generator=g)
    mine, theirs = (f(center, context, negatives, w_in, w_out) for f in (sgns_loss, ref.sgns_loss))
    torch.testing.assert_close(mine, theirs)
    torch.testing.assert_close(torch.autograd.grad(mine, (w_in, w_out)),
                               torch.autograd.grad(theirs, (w_in, w_out)))


def test_registered_under_the_exercise_ids():
    assert gradelib.STANDINS["ch03.cosine_similarity_matrix"] is cosine_similarity_matrix
    assert gradelib.STANDINS["ch03.sgns_loss"] is sgns_loss
