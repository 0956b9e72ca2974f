"""Device and precision: the pure decision (runners/modeling/device.py), and training in each precision on this CPU.

bf16 and fp16 autocast run on a CPU too (torch's CPU autocast and CPU GradScaler), so both are
trained here for real; what needs CUDA (placement on a GPU, nccl, the CUDA scaler) is decided by
the same function, unit-tested below, and exercised on a GPU host by bench/gpu_check.py.
"""

from __future__ import annotations

import json
import os

import pytest

from runners.modeling.device import Accelerators, placement
from runners.step import NodeFailed
from test_finetune import causal_spec, classifier_spec, fact_rows, run_model, ticket_rows

CPU_BUILD = Accelerators("2.13.0+cpu", cuda_build=False, cuda_devices=0)
CUDA_NO_DEVICE = Accelerators("2.13.0+cu128", cuda_build=True, cuda_devices=0)
OLD_GPU = Accelerators("2.13.0+cu128", cuda_build=True, cuda_devices=1, bf16_on_cuda=False)
GPU = Accelerators("2.13.0+cu128", cuda_build=True, cuda_devices=2, bf16_on_cuda=True)


@pytest.mark.parametrize("gpus, precision, seen, expected", [
    (0, "fp32", CPU_BUILD, ("cpu", None, False)),
    (0, "bf16", CPU_BUILD, ("cpu", "bfloat16", False)),
    (0, "fp16", CPU_BUILD, ("cpu", "float16", True)),
    (0, "fp32", GPU, ("cpu", None, False)),          # not given a GPU: the CPU, whatever is visible
    (1, "fp32", GPU, ("cuda", None, False)),
    (0.5, "bf16", GPU, ("cuda", "bfloat16", False)),
    (1, "fp16", OLD_GPU, ("cuda", "float16", True)),
])
def test_the_request_decides_the_device_and_precision_the_autocast(gpus, precision, seen, expected):
    where = placement(gpus, precision, seen)
    assert (where.device, where.autocast_dtype, where.grad_scaler) == expected


@pytest.mark.parametrize("gpus, precision, seen, quantize, message, hint", [
    (1, "fp32", CPU_BUILD, None, "was given 1 GPU but torch 2.13.0+cpu is a CPU-only build", "CUDA build of torch"),
    (1, "fp32", CUDA_NO_DEVICE, None, "was given 1 GPU but torch sees no CUDA device", "nvidia-smi"),
    (1, "bf16", OLD_GPU, None, "this GPU does not compute in bf16", "precision: fp16"),
    (1, "fp32", GPU, "int8", "quantized to int8, which runs on the CPU only", "num_gpus: 0"),
    (0, "fp8", GPU, None, "unknown precision 'fp8'", "fp32, bf16 or fp16"),
])
def test_what_cannot_be_had_fails_clearly(gpus, precision, seen, quantize, message, hint):
    with pytest.raises(NodeFailed) as failed:
        placement(gpus, precision, seen, "Model/m:finetune", quantize)
    assert message in failed.value.message and failed.value.message.startswith("Model/m:finetune")
    assert hint in failed.value.hint and failed.value.retryable is False


def test_a_finetune_given_a_gpu_torch_cannot_see_fails_before_any_work(tmp_path, monkeypatch):
    from runners.modeling import bases

    def never(*args, **kwargs):
        raise AssertionError("the base was loaded")

    monkeypatch.setattr(bases, "load_base", never)  # the check comes first: nothing is loaded, trained or written
    with pytest.raises(NodeFailed, match="was given 1 GPU but torch .* CPU-only build"):
        run_model(tmp_path, classifier_spec(epochs=1), ticket_rows(12), extra={"num_gpus": 1})
    assert not any((tmp_path / "m").iterdir())


def test_evaluation_given_a_gpu_it_cannot_see_fails_clearly(tmp_path):
    from runners.modeling.predictor import load_predictor

    out, _ = run_model(tmp_path, classifier_spec(epochs=1), ticket_rows(12))
    assert load_predictor(out, num_gpus=0).predict(["refund invoice"])[0] in ("billing", "bug", "other")
    with pytest.raises(NodeFailed, match="EvalGate/g:evaluate was given 1 GPU"):
        load_predictor(out, num_gpus=1, what="EvalGate/g:evaluate")


def test_a_serve_replica_given_a_gpu_it_cannot_see_fails_clearly(tmp_path):
    import shutil

    from runners.objects import push_folder
    from runners.remote_odb import RemoteAddress
    from runners.replica_model import cache_root
    from runners.serving import ModelServer

    out, _ = run_model(tmp_path, classifier_spec(epochs=1), ticket_rows(12))
    (tmp_path / "remote").mkdir()
    address = RemoteAddress(str(tmp_path / "remote"))
    model = {"model_md5": push_folder(address, out, "the model").oid, "remote": address.to_dict()}  # as a replica is told
    version = "v-" + os.urandom(6).hex()
    try:
        assert ModelServer(model, None, version, 1, num_gpus=0).predict([{"text": "refund"}])["version"] == version
        with pytest.raises(NodeFailed, match=f"the replica of {version} was given 0.5 GPU but torch"):
            ModelServer(model, None, version, 1, num_gpus=0.5)
    finally:
        for folder in cache_root().glob(f"{version}-*"):
            shutil.rmtree(folder)


def _curve(out) -> list[float]:
    return json.loads((out / "loss.json").read_text())["loss"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_trains_on_the_cpu_and_stays_near_fp32(tmp_path, precision):
    """Autocast changes the numbers, not what is learned. bf16 follows fp32 step by step (measured: within
    2% here). fp16's scaler starts at 2^16 and skips the first steps whose scaled gradients overflow
    (lowering the scale each time): its curve lags fp32's by those steps and ends near it."""
    rows = fact_rows()
    full, _ = run_model(tmp_path, causal_spec(max_steps=12), rows, name="fp32")
    half, result = run_model(tmp_path, causal_spec(max_steps=12, precision=precision), rows, name=precision)
    reference, curve = _curve(full), _curve(half)
    assert curve != reference                                    # it did compute in another precision
    assert curve[-1] < curve[0] * 0.5                            # and it learned
    body = json.loads((half / "loss.json").read_text())
    if precision == "bf16":
        assert max(abs(a - b) / a for a, b in zip(reference, curve)) < 0.05  # within 5% of fp32 at every step
        assert "skipped_steps" not in body
    else:
        assert 1 <= body["skipped_steps"] <= 4 and abs(curve[-1] - reference[-1]) / reference[-1] < 0.25
    assert f"cpu, {precision}" in result.summary
    manifest = json.loads((half / "llmops_model.json").read_text())
    assert manifest["spec"]["finetune"]["training"]["precision"] == precision
    from safetensors import safe_open

    with safe_open(str(half / "model" / "model.safetensors"), "pt") as weights:  # the saved weights stay fp32
        assert {str(weights.get_tensor(k).dtype) for k in weights.keys()} == {"torch.float32"}


def test_gradient_checkpointing_gives_the_same_losses(tmp_path):
    """Recomputed activations are the same activations (dropout replayed from the saved RNG state)."""
    rows = ticket_rows(24)
    plain, _ = run_model(tmp_path, classifier_spec(epochs=2, max_steps=6), rows, name="plain")
    saved, _ = run_model(tmp_path, classifier_spec(epochs=2, max_steps=6, gradient_checkpointing=True), rows, name="ckpt")
    for a, b in zip(_curve(plain), _curve(saved), strict=True):
        assert a == pytest.approx(b, rel=1e-5)


def test_gradient_checkpointing_of_a_full_causal_finetune_with_dropout(tmp_path):
    rows = fact_rows()
    plain, _ = run_model(tmp_path, causal_spec("gpt2", max_steps=4), rows, name="plain")  # GPT-2: dropout 0.1
    saved, _ = run_model(tmp_path, causal_spec("gpt2", max_steps=4, gradient_checkpointing=True), rows, name="ckpt")
    for a, b in zip(_curve(plain), _curve(saved), strict=True):
        assert a == pytest.approx(b, rel=1e-5)
