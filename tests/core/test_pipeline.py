"""WorkflowPipeline: inference over the accelerated twin of its workflow, and the networks its edits share."""
import torch

from artworkflow.accel.upsample import UpsamplingPath
from artworkflow.config import StageSpec, WorkflowSpec, preset
from artworkflow.pipeline import WorkflowPipeline
from artworkflow.workflow import Workflow


def test_pipeline_samples_what_the_plain_workflow_samples_through_the_accelerated_twin():
    torch.manual_seed(0)
    spec = WorkflowSpec("t", (StageSpec("sketch", 1), StageSpec("flat", 3), StageSpec("final", 3)))
    wf = Workflow(spec, preset("tiny")[0])
    fast, plain = WorkflowPipeline(wf), WorkflowPipeline(wf, accel=False)
    assert isinstance(fast.workflow.generators[0].up, UpsamplingPath) and plain.workflow is wf
    assert all(a is b for a, b in zip(fast.workflow.parameters(), wf.parameters()))
    x1 = torch.rand(1, 1, 64, 64) * 2 - 1
    for a, b in zip(fast.sample(x1, seed=2), plain.sample(x1, seed=2)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_edits_of_a_pipeline_share_its_networks_until_told_to_forget_them():
    torch.manual_seed(0)
    spec = WorkflowSpec("t", (StageSpec("sketch", 1), StageSpec("final", 3)))
    pipeline = WorkflowPipeline(Workflow(spec, preset("tiny")[0]))
    nets = pipeline.edit_networks(amp="none")
    assert pipeline.edit_networks(amp="none") is nets and pipeline.edit_networks(amp="bf16") is not nets
    with torch.no_grad():
        pipeline.workflow.generators[0].mlp.net[0].weight.mul_(2)
    assert pipeline.edit_networks(amp="none") is nets, "made once: the pipeline never changes its weights"
    pipeline.forget_edit_networks()
    renewed = pipeline.edit_networks(amp="none")
    assert renewed is not nets
    assert torch.equal(renewed.generators[0].mlp.net[0].weight, pipeline.workflow.generators[0].mlp.net[0].weight)
