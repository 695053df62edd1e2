"""`bench/gpu_suite.sh --smoke` writes its JSON and Markdown with every
section run, and the MFU arithmetic (FLOPs count, peak by device name)
is right."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from bench import gpu_suite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_peak_is_chosen_by_device_name():
    assert gpu_suite.peak_tflops("NVIDIA H200") == 989.4
    assert gpu_suite.peak_tflops("NVIDIA GH200 480GB") == 989.4
    assert gpu_suite.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpu_suite.peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert gpu_suite.peak_tflops("NVIDIA A100-SXM4-40GB") == 312.0
    assert gpu_suite.peak_tflops("NVIDIA L40S") == 362.1
    assert gpu_suite.peak_tflops("NVIDIA L4") == 121.0
    assert gpu_suite.peak_tflops("Tesla V100-SXM2-16GB") is None  # no bf16


def test_train_flops_counts_every_matmul():
    @dataclasses.dataclass
    class Sizes:
        model_dim: int = 2
        intermediate_dim: int = 3
        num_layers: int = 1

    # By hand, B 1, S 5, T 7, D 2, F 3, V 11, one layer, 2 FLOPs a MAC:
    # encoder: 4 projections 4*5*2*2=80 MACs, QK^T and AV 2*5*5*2=100,
    #   FFN 2*5*2*3=60 -> 240 MACs;
    # decoder self: 4*7*2*2=112, 2*7*7*2=196; cross: Q/O 2*7*2*2=56,
    #   K/V 2*5*2*2=40, QK^T/AV 2*7*5*2=140; FFN 2*7*2*3=84 -> 628 MACs;
    # logits 7*2*11=154 MACs. Forward 1022 MACs = 2044 FLOPs; x3.
    assert gpu_suite.train_flops(1, 5, 7, Sizes(), 11) == 3 * 2044


@pytest.mark.slow  # about a minute: five child processes, each importing
def test_smoke_run_writes_json_and_markdown(tmp_path):
    run = subprocess.run(
        ["bash", "bench/gpu_suite.sh", "--smoke", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    result = json.loads((tmp_path / "gpu_suite.json").read_text())
    assert result["smoke"] is True
    sections = result["sections"]
    assert list(sections) == list(gpu_suite.SECTIONS)
    assert all(s["status"] == "ok" for s in sections.values()), sections
    train = sections["train"]
    assert train["tokens_per_s"] > 0 and train["achieved_tflops"] > 0
    expected = 2 * train["batch"] * train["source_length"]
    assert train["tokens_per_s"] == pytest.approx(
        expected * 1000 / train["step_ms"], rel=0.02
    )
    assert sections["routing"]["rows"][0]["fused_kernel"] is False  # CPU
    assert sections["long_attention"]["rows"][0]["status"] == "ok"
    assert sections["decoding"]["token_checks"]
    markdown = (tmp_path / "gpu_suite.md").read_text()
    for name in gpu_suite.SECTIONS:
        assert f"## {name}" in markdown
    assert "| preset | parameters |" in markdown
