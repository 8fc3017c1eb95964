"""The pipeline plan: keep the decoded pictures in memory or stream them, and why."""
from __future__ import annotations

import torch

from core.data.pipeline_plan import host_available_bytes, plan_pipeline


def test_plan_streams_when_the_budget_is_too_small_and_says_why():
    need = 1000 * 73 * 73 * 3
    plan = plan_pipeline(1000, 64, torch.device("cpu"), memory_budget_mb=1, workers=2)
    assert plan.kind == "stream" and plan.where == "workers"
    assert plan.cache_bytes == need and plan.budget_bytes == 2 ** 20
    assert "1,000 images" in plan.reason and "more than" in plan.reason and "budget" in plan.reason
    assert "2 worker processes" in plan.reason

    plan = plan_pipeline(1000, 64, torch.device("cpu"), memory_budget_mb=100)
    assert plan.kind == "cached" and plan.where == "host memory"
    assert "fit in the memory budget" in plan.reason and "decoded once" in plan.reason

    default = plan_pipeline(1000, 64, torch.device("cpu"))
    assert default.kind == "cached" and 0 < default.budget_bytes < host_available_bytes()


def test_plan_can_be_forced():
    forced = plan_pipeline(10, 64, torch.device("cpu"), kind="stream", workers=0)
    assert forced.kind == "stream" and "as set in the settings" in forced.reason
    assert "in the training process" in forced.reason
    big = plan_pipeline(1000, 64, torch.device("cpu"), kind="cached", memory_budget_mb=1)
    assert big.kind == "cached" and "may run out of memory" in big.reason


def test_plan_on_a_gpu_prefers_gpu_memory_then_pinned_host_memory(monkeypatch):
    """The CUDA budgets, with the free memory made up (no GPU needed)."""
    from core.data import pipeline_plan

    gb = 2 ** 30
    monkeypatch.setattr(pipeline_plan, "host_available_bytes", lambda: 10 * gb)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (1 * gb, 80 * gb))
    per_image = 256 * 256 * 3                                    # 224 px -> 256 px squares
    small = plan_pipeline(1000, 224, "cuda")
    assert (small.kind, small.where) == ("cached", "gpu")
    assert small.cache_bytes == 1000 * per_image and small.budget_bytes == int(0.6 * gb)
    mid = plan_pipeline(10_000, 224, "cuda")                     # above the GPU's share, below the host's
    assert (mid.kind, mid.where) == ("cached", "pinned host memory") and mid.budget_bytes == int(0.4 * 10 * gb)
    assert "pinned host memory" in mid.reason
    assert plan_pipeline(40_000, 224, "cuda").kind == "stream"
    # A budget the person sets is capped by what the GPU has free.
    capped = plan_pipeline(1000, 224, "cuda", memory_budget_mb=4096)
    assert capped.where == "gpu" and capped.budget_bytes == int(0.9 * gb)
    # The store an earlier run left on the GPU counts as free: it is reused or freed.
    assert plan_pipeline(4000, 224, "cuda").where == "pinned host memory"
    assert plan_pipeline(4000, 224, "cuda", reclaimable_bytes=gb).where == "gpu"
