"""load_encoder / Encoder with real tiny checkpoints written by save_pretrained."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from ucf_nb.demo import make_demo_encoder
from ucf_nb.encoders import EncoderLoadError, load_encoder, resolve_precision

S = 64  # tiny encoders take 64x64 frames: fast on two shared cores


@pytest.fixture(scope="module")
def ts_dir(tmp_path_factory):
    return make_demo_encoder(tmp_path_factory.mktemp("enc") / "timesformer", img_size=S)


@pytest.fixture(scope="module")
def vm_dir(tmp_path_factory):
    return make_demo_encoder(tmp_path_factory.mktemp("enc") / "videomae", arch="videomae", img_size=S)


def _clips(b=2, t=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((b, t, 3, S, S), generator=g)


def _reference(folder, x):
    """last_hidden_state of the same checkpoint, loaded separately, in fp32."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(pixel_values=x).last_hidden_state


def test_loads_frozen_in_eval_mode_with_its_identity(ts_dir):
    enc = load_encoder(ts_dir, device="cpu", precision="fp32")
    assert not enc.model.training
    assert not any(p.requires_grad for p in enc.model.parameters())
    info = enc.info
    assert info["model_type"] == "timesformer" and info["embedding_dim"] == 64
    assert info["device"] == "cpu" and info["precision"] == "fp32" and info["pooling"] == "cls"
    assert info["revision"].startswith("sha256:") and len(info["revision"]) == len("sha256:") + 64


def test_revision_follows_the_weights(tmp_path, ts_dir):
    other = make_demo_encoder(tmp_path / "other", img_size=S, seed=1)
    assert load_encoder(other, device="cpu").info["revision"] != load_encoder(ts_dir, device="cpu").info["revision"]


def test_cls_pooling_is_token_zero(ts_dir):
    x = _clips()
    enc = load_encoder(ts_dir, device="cpu", precision="fp32", pooling="cls", attention="eager")
    out = enc.embed(x)
    assert out.dtype == torch.float32 and out.device.type == "cpu" and out.shape == (2, 64)
    torch.testing.assert_close(out, _reference(ts_dir, x)[:, 0], rtol=0, atol=0)


def test_mean_pooling_averages_patch_tokens(ts_dir, vm_dir):
    x = _clips()
    out = load_encoder(ts_dir, device="cpu", precision="fp32", pooling="mean").embed(x)
    torch.testing.assert_close(out, _reference(ts_dir, x)[:, 1:].mean(1), rtol=1e-6, atol=1e-6)
    out = load_encoder(vm_dir, device="cpu", precision="fp32", pooling="mean").embed(x)
    torch.testing.assert_close(out, _reference(vm_dir, x).mean(1), rtol=1e-6, atol=1e-6)


def test_cls_is_refused_for_videomae(vm_dir):
    with pytest.raises(ValueError, match="videomae has no CLS token, use pooling='mean'"):
        load_encoder(vm_dir, device="cpu", pooling="cls")


def test_pooling_none_is_the_family_default(ts_dir, vm_dir):
    ts = load_encoder(ts_dir, device="cpu")
    vm = load_encoder(vm_dir, device="cpu")
    assert (ts.pooling, ts.info["family"]) == ("cls", "timesformer")
    assert (vm.pooling, vm.info["family"]) == ("mean", "videomae")
    assert set(ts.info) == {
        "checkpoint",
        "revision",
        "model_type",
        "family",
        "embedding_dim",
        "device",
        "precision",
        "pooling",
        "attention",
        "compile",
    }


def test_the_registry_names_every_family(tmp_path):
    from ucf_nb.encoders import EncoderAdapter, adapter_for, families, register_adapter

    every = families()
    assert {"clip", "timesformer", "videomae", "vivit"} <= set(every) and every == sorted(every)
    assert adapter_for("videomae").poolings[0] == "mean" and adapter_for("timesformer").default_T == 8
    with pytest.raises(
        ValueError,
        match=r"model_type='vit' has no encoder adapter: the known families are "
        r"clip \(clip, clip_vision_model\), timesformer \(timesformer\), "
        r"videomae \(videomae\), vivit \(vivit\)",
    ):
        adapter_for("vit")
    with pytest.raises(ValueError, match="must set family, model_types and poolings"):
        register_adapter(type("Half", (EncoderAdapter,), {"family": "half"}))
    with pytest.raises(ValueError, match="'videomae' is served by both VideoMAEAdapter and Twin"):
        register_adapter(
            type("Twin", (EncoderAdapter,), {"family": "twin", "model_types": ("videomae",), "poolings": ("mean",)})
        )
    assert families() == every


def test_a_model_type_without_adapter_is_named(tmp_path):
    from transformers import ViTConfig, ViTModel

    folder = tmp_path / "vit"
    ViTModel(
        ViTConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            image_size=32,
            patch_size=16,
        )
    ).save_pretrained(folder)
    with pytest.raises(ValueError, match="model_type='vit' has no encoder adapter"):
        load_encoder(folder, device="cpu")


def test_precision_auto_and_bf16_close_to_fp32(ts_dir):
    from ucf_nb.encoders.encoder import _cpu_has_bf16

    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if _cpu_has_bf16() else "fp32")
    assert load_encoder(ts_dir, device="cpu").info["precision"] == resolve_precision("auto", torch.device("cpu"))
    with pytest.raises(ValueError, match="precision='fp16' needs a CUDA device"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("half", torch.device("cpu"))
    x = _clips(4)
    a = load_encoder(ts_dir, device="cpu", precision="fp32").embed(x)
    b = load_encoder(ts_dir, device="cpu", precision="bf16").embed(x)
    assert not torch.equal(a, b)  # bf16 autocast really ran
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.99


def test_bad_inputs_are_named(ts_dir, tmp_path):
    with pytest.raises(ValueError, match="pooling must be 'cls' or 'mean' for timesformer .*got pooling='max'"):
        load_encoder(ts_dir, pooling="max")
    with pytest.raises(ValueError, match="device='tpu' is not a torch device|device='tpu'"):
        load_encoder(ts_dir, device="tpu")
    missing = tmp_path / "no_such_model"
    with pytest.raises(EncoderLoadError, match="does not exist"):
        load_encoder(str(missing))
    enc = load_encoder(ts_dir, device="cpu")
    with pytest.raises(ValueError, match=r"shape \(B, T, 3, S, S\)"):
        enc.embed(torch.zeros(2, 3, 8, S, S))
    with pytest.raises(ValueError, match="floating point"):
        enc.embed(torch.zeros(2, 8, 3, S, S, dtype=torch.uint8))


def test_preprocessing_presets(ts_dir):
    enc = load_encoder(ts_dir, device="cpu")
    prep = enc.preprocessing("checkpoint", 224)  # the demo's k400-style preprocessor config
    assert prep.resize == "shortest_edge" and prep.output_size == 224 and prep.mean == (0.45, 0.45, 0.45)
    seed = enc.preprocessing("seed", S)
    assert seed.resize == "squash" and seed.output_size == S
    with pytest.raises(ValueError, match="img_size=64: pass img_size=224"):
        enc.preprocessing("checkpoint", S)
    with pytest.raises(ValueError, match="'checkpoint' or 'seed'"):
        enc.preprocessing("imagenet", S)


def test_remote_code_is_never_run(ts_dir, tmp_path):
    """A folder whose config asks for custom code: the code must not be imported."""
    import shutil

    folder = tmp_path / "evil"
    shutil.copytree(ts_dir, folder)
    marker = tmp_path / "ran.txt"
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "modeling_evil.EvilModel", "AutoConfig": "modeling_evil.EvilConfig"}
    (folder / "config.json").write_text(json.dumps(cfg))
    enc = load_encoder(folder, device="cpu")  # the built-in TimeSformer classes, never the folder's code
    assert type(enc.model).__name__ == "TimesformerModel" and enc.info["family"] == "timesformer"
    assert not marker.exists()


@pytest.mark.slow
def test_offline_hub_id_explains_how_to_use_a_local_folder(tmp_path):
    """No network here: with the hub switched off and an empty cache, the message says what to do."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), TRANSFORMERS_OFFLINE="1")
    code = (
        "from ucf_nb.encoders import load_encoder, EncoderLoadError\n"
        "try:\n    load_encoder('facebook/timesformer-base-finetuned-k400', device='cpu')\n"
        "except EncoderLoadError as e:\n    print('MSG', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "MSG" in out.stdout, out.stderr[-2000:]
    msg = out.stdout.split("MSG", 1)[1]
    assert "offline" in msg and "checkpoint='/path/to/local/folder'" in msg and "HF_HOME" in msg
