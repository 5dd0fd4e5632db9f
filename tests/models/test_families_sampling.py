"""The per-family call arguments `sample()` adds, seen on real tiny pipelines: LTX's frame rate and
decode timestep, CogVideoX-5B's dynamic CFG, and no negative prompt where a family has none."""

from unittest import mock

import pytest
from diffusers import CogVideoXDPMScheduler

from bench import gpu_families
from models.catalog import CatalogEntry
from models.loader import load_model
from workers.runtime import sample


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sampling")


def call_kwargs(model, **params) -> dict:
    """Run `sample` on the real pipeline and return what the pipeline was called with."""
    pipeline_class = type(model.pipeline)
    base = {
        "prompt": "a red ball moving left",
        "negative_prompt": None,
        "num_inference_steps": 2,
        "guidance_scale": 2.0,
        "seed": 0,
        "fps": 8,
    }
    with mock.patch.object(pipeline_class, "__call__", autospec=True, side_effect=pipeline_class.__call__) as spy:
        sample(model, {**base, **params}, lambda done, total: None)
    return spy.call_args.kwargs


def test_ltx_gets_the_videos_frame_rate_and_its_decode_timestep(data_dir):
    model = load_model(CatalogEntry(name="ltx", family="ltx", path="builtin:tiny-ltx"), data_dir)
    kwargs = call_kwargs(model, height=32, width=64, num_frames=9, fps=12)
    assert kwargs["frame_rate"] == 12
    assert (kwargs["decode_timestep"], kwargs["decode_noise_scale"]) == (0.03, 0.025)


def test_cogvideox_uses_dynamic_cfg_only_with_the_dpm_scheduler(data_dir):
    model = load_model(CatalogEntry(name="cog", family="cogvideox", path="builtin:tiny-cogvideox"), data_dir)
    assert "use_dynamic_cfg" not in call_kwargs(model, height=32, width=48, num_frames=9)
    # CogVideoX-5B ships the DPM scheduler, which its dynamic CFG schedule was tuned for.
    model.pipeline.scheduler = CogVideoXDPMScheduler.from_config(model.pipeline.scheduler.config)
    assert call_kwargs(model, height=32, width=48, num_frames=9)["use_dynamic_cfg"] is True


def test_a_family_without_negative_prompts_never_passes_one(data_dir):
    model = load_model(CatalogEntry(name="hy", family="hunyuan", path="builtin:tiny-hunyuan"), data_dir)
    kwargs = call_kwargs(model, height=32, width=48, num_frames=9, negative_prompt="blurry")
    assert "negative_prompt" not in kwargs
    wan = load_model(CatalogEntry(name="wan", family="wan", path="builtin:tiny-wan"), data_dir)
    assert call_kwargs(wan, height=32, width=32, num_frames=9, negative_prompt="blurry")["negative_prompt"] == "blurry"


def test_gpu_bench_runs_end_to_end_on_tiny_pipelines(capsys):
    # The GPU benchmark can only run on a lent GPU; its --tiny mode keeps the script itself working.
    arguments = ["--tiny", "--families", "ltx-0.9,wan2.2-a14b", "--variants", "none,compile", "--steps", "2"]
    assert gpu_families.main(arguments) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {tuple(line.split()[:2]) for line in lines[2:]}
    assert {("ltx-0.9", "none"), ("wan2.2-a14b", "none"), ("ltx-0.9", "compile")} <= rows
    assert any("compile" in line and "skipped: " in line and "CUDA" in line for line in lines)
