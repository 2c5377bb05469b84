"""reference.distributed with two gloo processes on CPU: one data-parallel step on two halves of
a batch equals one single-process step on the whole batch, and the replicas stay identical."""

import torch

from reference.distributed import all_reduce_gradients, ddp_train_step, run_workers
from reference.losses import cross_entropy
from reference.optim import AdamW


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(7, 5), torch.nn.Linear(5, 7)).double()


def _batch():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 7, (6, 4), generator=g), torch.randint(0, 7, (6, 4), generator=g)


def _worker(rank, world_size, out_dir):
    model = _model()
    opt = AdamW(model.parameters(), lr=0.1)
    x, y = _batch()
    rows = slice(rank * 3, rank * 3 + 3)  # each worker: half the batch
    for _ in range(2):
        ddp_train_step(model, opt, x[rows], y[rows], cross_entropy)
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, f"{out_dir}/rank{rank}.pt")
    # all_reduce_gradients alone averages: rank r holds gradient r + 1, the mean is 1.5.
    for p in model.parameters():
        p.grad = torch.full_like(p, float(rank + 1))
    all_reduce_gradients(model)
    assert all(torch.all(p.grad == 1.5) for p in model.parameters())


def test_two_process_step_equals_single_process_on_whole_batch(tmp_path):
    run_workers(_worker, 2, args=(str(tmp_path),), backend="gloo")
    model = _model()
    opt = AdamW(model.parameters(), lr=0.1)
    x, y = _batch()
    for _ in range(2):
        opt.zero_grad()
        cross_entropy(model(x), y).backward()
        opt.step()
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(ranks[0][name], value, rtol=1e-12, atol=1e-12)
        assert torch.equal(ranks[0][name], ranks[1][name])
