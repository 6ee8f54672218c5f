"""load_encoder's attention and compile options, and the machine-sized defaults of extract_split,
with real tiny checkpoints written by save_pretrained."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from ucf_nb.demo import make_demo_encoder
from ucf_nb.encoders import load_encoder
from ucf_nb.extract.split import auto_batch_size, auto_num_workers, pick_batch_size

S = 64


@pytest.fixture(scope="module")
def ts_dir(tmp_path_factory):
    return make_demo_encoder(tmp_path_factory.mktemp("enc") / "timesformer", img_size=S)


@pytest.fixture(scope="module")
def vm_dir(tmp_path_factory):
    return make_demo_encoder(tmp_path_factory.mktemp("enc") / "videomae", arch="videomae", img_size=S)


def _clips(b=2, t=8, seed=0):
    return torch.randn((b, t, 3, S, S), generator=torch.Generator().manual_seed(seed))


def _sdpa_calls(enc, x) -> int:
    """aten::scaled_dot_product_attention calls in one Encoder.embed (torch profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        enc.embed(x)
    return sum(e.count for e in prof.key_averages() if e.key == "aten::scaled_dot_product_attention")


def test_timesformer_runs_sdpa_by_default_and_eager_on_request(ts_dir):
    x = _clips()
    sdpa = load_encoder(ts_dir, device="cpu", precision="fp32")
    eager = load_encoder(ts_dir, device="cpu", precision="fp32", attention="eager")
    assert sdpa.info["attention"] == "sdpa" and eager.info["attention"] == "eager"
    assert sdpa.info["compile"] is False and sdpa.compiled is None
    layers = sdpa.model.config.num_hidden_layers
    assert _sdpa_calls(sdpa, x) == 2 * layers  # temporal + spatial attention of every layer
    assert _sdpa_calls(eager, x) == 0
    a, b = sdpa.embed(x), eager.embed(x)
    assert torch.nn.functional.cosine_similarity(a, b).min() >= 0.99999
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert load_encoder(ts_dir, device="cpu", attention="sdpa").info["attention"] == "sdpa"


def test_videomae_uses_transformers_own_sdpa(vm_dir):
    x = _clips()
    sdpa = load_encoder(vm_dir, device="cpu", precision="fp32")
    eager = load_encoder(vm_dir, device="cpu", precision="fp32", attention="eager")
    assert sdpa.info["attention"] == sdpa.model.config._attn_implementation == "sdpa"
    assert eager.info["attention"] == eager.model.config._attn_implementation == "eager"
    assert _sdpa_calls(sdpa, x) == sdpa.model.config.num_hidden_layers
    assert _sdpa_calls(eager, x) == 0
    torch.testing.assert_close(sdpa.embed(x), eager.embed(x), rtol=1e-5, atol=1e-5)


def test_auto_falls_back_to_eager_where_transformers_has_no_sdpa(ts_dir):
    """A family whose transformers class refuses attn_implementation='sdpa' (here: TimeSformer
    without our switch) loads eagerly under 'auto' and refuses 'sdpa' with a clear message."""
    from transformers import AutoConfig

    from ucf_nb.encoders.base import EncoderAdapter
    from ucf_nb.encoders.encoder import _load_with_attention
    from ucf_nb.encoders.timesformer import TimesformerAdapter

    class NoSdpa(TimesformerAdapter):
        attention_kwargs = EncoderAdapter.attention_kwargs
        set_attention = EncoderAdapter.set_attention
        attention = EncoderAdapter.attention

    adapter = NoSdpa()  # not registered
    cfg = AutoConfig.from_pretrained(ts_dir)
    model = _load_with_attention(adapter, str(ts_dir), str(ts_dir), cfg, ts_dir, {}, "auto")
    assert adapter.attention(model) == "eager"
    with pytest.raises(
        ValueError, match="attention='sdpa' is not available for timesformer .* use attention='auto' or 'eager'"
    ):
        _load_with_attention(adapter, str(ts_dir), str(ts_dir), cfg, ts_dir, {}, "sdpa")


def test_bad_attention_and_compile_values_are_named(ts_dir, vm_dir):
    with pytest.raises(ValueError, match="attention must be 'auto', 'sdpa' or 'eager', got attention='flash'"):
        load_encoder(ts_dir, device="cpu", attention="flash")
    with pytest.raises(TypeError, match="compile must be True or False, got compile='yes'"):
        load_encoder(ts_dir, device="cpu", compile="yes")
    with pytest.raises(ValueError, match="both choose the attention: pass only one"):
        load_encoder(vm_dir, device="cpu", attention="sdpa", model_kwargs={"attn_implementation": "eager"})
    enc = load_encoder(vm_dir, device="cpu", model_kwargs={"attn_implementation": "eager"})
    assert enc.info["attention"] == "eager"


def _failing_backend(gm, example_inputs):
    raise RuntimeError("no compiler here")


def test_a_compile_failure_falls_back_to_eager_with_one_warning(ts_dir):
    x = _clips()
    enc = load_encoder(ts_dir, device="cpu", precision="fp32")
    ref = enc.embed(x)
    torch._dynamo.reset()
    enc.compiled = torch.compile(enc.model, backend=_failing_backend)
    enc.info["compile"] = True
    with pytest.warns(RuntimeWarning, match="torch.compile failed .*no compiler here.*running it without compile"):
        out = enc.embed(x)
    torch.testing.assert_close(out, ref)
    assert enc.compiled is None and enc.info["compile"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        torch.testing.assert_close(enc.embed(x), ref)


def test_compiled_encoder_pads_small_batches_instead_of_recompiling(ts_dir):
    """A counting backend (the graph runs as traced): the last, smaller batch reuses the graph."""
    graphs = []

    def counting(gm, example_inputs):
        graphs.append(tuple(example_inputs[0].shape) if example_inputs else ())
        return gm.forward

    x = _clips(4)
    enc = load_encoder(ts_dir, device="cpu", precision="fp32")
    ref = enc.embed(x)
    torch._dynamo.reset()
    enc.compiled = torch.compile(enc.model, backend=counting, dynamic=False)
    torch.testing.assert_close(enc.embed(x), ref, rtol=1e-5, atol=1e-5)
    n = len(graphs)
    assert n >= 1
    torch.testing.assert_close(enc.embed(x[:3]), ref[:3], rtol=1e-5, atol=1e-5)  # padded to 4
    assert len(graphs) == n


@pytest.mark.slow
def test_compile_true_with_inductor_matches_eager(ts_dir):
    x = _clips(2)
    ref = load_encoder(ts_dir, device="cpu", precision="fp32", attention="eager").embed(x)
    torch._dynamo.reset()
    enc = load_encoder(ts_dir, device="cpu", precision="fp32", compile=True)
    assert enc.info["compile"] is True and enc.compiled is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback
        out = enc.embed(x)
    assert enc.info["compile"] is True
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_pick_batch_size_is_the_largest_power_of_two_that_fits():
    mb = 1 << 20
    assert pick_batch_size(30 * mb, 80_000 * mb) == 64  # a big GPU: the cap
    assert pick_batch_size(30 * mb, 80_000 * mb, cap=256) == 256
    assert pick_batch_size(30 * mb, 1000 * mb) == 16  # 500 MiB usable / 30 MiB = 16.7
    assert pick_batch_size(30 * mb, 40 * mb) == 1  # never 0
    assert pick_batch_size(0, 10 * mb, cap=32) == 32


def test_auto_defaults_on_the_cpu(ts_dir, monkeypatch):
    from ucf_nb.extract import split as ex

    enc = load_encoder(ts_dir, device="cpu")
    assert auto_batch_size(enc, enc.preprocessing("seed", S), 8) == 16
    monkeypatch.setattr(ex, "_n_cpus", lambda: 16)
    assert auto_num_workers(torch.device("cuda")) == 15 and auto_num_workers(torch.device("cpu")) == 1
    monkeypatch.setattr(ex, "_n_cpus", lambda: 64)
    assert auto_num_workers(torch.device("cuda")) == 16
    monkeypatch.setattr(ex, "_n_cpus", lambda: 1)
    assert auto_num_workers(torch.device("cuda")) == 1 and auto_num_workers(torch.device("cpu")) == 0


def test_extract_records_attention_and_sizes_in_result_and_manifest(tmp_path, ts_dir, h264_video):
    import pandas as pd

    from ucf_nb import extract_split, read_manifest
    from ucf_nb.video.sampling import clip_windows

    w = clip_windows(200, 32, 16)
    index = tmp_path / "index.csv"
    pd.DataFrame(
        dict(
            split="train",
            y=0,
            category="Normal",
            path=str(h264_video),
            clip_idx=np.arange(len(w)),
            start_frame=w[:, 0],
            end_frame=w[:, 1],
            clip_len=32,
            stride=16,
            fps=30.0,
            n_frames=200,
            video=h264_video.name,
            anomaly_frac=np.nan,
        )
    ).to_csv(index, index=False)
    out = tmp_path / "out"
    r = extract_split(
        "train",
        index,
        out_dir=out,
        checkpoint=ts_dir,
        T=8,
        img_size=S,
        preprocessing="seed",
        device="cpu",
        precision="fp32",
        progress=False,
    )
    assert (r["attention"], r["compile"], r["batch_size"]) == ("sdpa", False, 16)
    assert r["num_workers"] == auto_num_workers(torch.device("cpu"))
    entry = read_manifest(out)["splits"]["train"]
    assert entry["attention"] == "sdpa"
    assert {k: entry["shards"][0][k] for k in ("attention", "compile", "batch_size", "num_workers")} == {
        "attention": "sdpa",
        "compile": False,
        "batch_size": 16,
        "num_workers": r["num_workers"],
    }
    X = np.load(out / "emb_train.npy")
    # resuming with eager attention is allowed (rounding-level differences) and recomputes nothing
    r2 = extract_split(
        "train",
        index,
        out_dir=out,
        checkpoint=ts_dir,
        T=8,
        img_size=S,
        preprocessing="seed",
        device="cpu",
        precision="fp32",
        progress=False,
        attention="eager",
        batch_size=4,
        num_workers=0,
    )
    assert r2["complete"] and r2["n_embedded"] == 0 and r2["attention"] == "eager"
    # the same clips with eager attention, from scratch: equal to float16 storage precision
    r3 = extract_split(
        "train",
        index,
        out_dir=tmp_path / "eager",
        checkpoint=ts_dir,
        T=8,
        img_size=S,
        preprocessing="seed",
        device="cpu",
        precision="fp32",
        progress=False,
        attention="eager",
        batch_size=4,
        num_workers=0,
    )
    assert (r3["batch_size"], r3["num_workers"]) == (4, 0)
    Y = np.load(tmp_path / "eager" / "emb_train.npy")
    np.testing.assert_allclose(X.astype(np.float32), Y.astype(np.float32), rtol=2e-3, atol=2e-3)
    assert json.loads((out / "manifest.json").read_text())["splits"]["train"]["shards"][0]["attention"] == "sdpa"


def test_extract_refuses_bad_sizes(tmp_path, ts_dir):
    from ucf_nb import extract_split

    with pytest.raises(ValueError, match="batch_size must be an int >= 1 or 'auto', got batch_size='big'"):
        extract_split("train", tmp_path / "none.csv", checkpoint=ts_dir, batch_size="big")
    with pytest.raises(ValueError, match="num_workers must be an int >= 0 or 'auto', got num_workers=-1"):
        extract_split("train", tmp_path / "none.csv", checkpoint=ts_dir, num_workers=-1)
