"""Every encoder family: a tiny saved model loaded through load_encoder gives what the family's
Hugging Face model gives by hand on the same frames, preprocessed by the HF processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ucf_nb.encoders import EncoderAdapter, adapter_for, families, load_encoder
from ucf_nb.encoders.base import adapters
from ucf_nb.encoders.tiny import make_tiny_encoder, tiny_families

S = 64  # frames the tiny encoders take
T = 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    made = {}

    def get(family):
        if family not in made:
            made[family] = make_tiny_encoder(root / family, family, image_size=S, num_frames=T)
        return made[family]

    return get


def _frames(pre, seed=0):
    """uint8 frames (T, H, W, 3) already at the processor's resize size (shorter side
    ``pre.size``, landscape), so that the resize is the identity for PIL and OpenCV alike and
    only the crop, rescale and normalisation are compared."""
    h = pre.size
    w = h + 18
    return np.random.default_rng(seed).integers(0, 256, (T, h, w, 3), dtype=np.uint8)


def _ours(enc, frames):
    pre = enc.preprocessing("checkpoint", S)
    x = pre.normalize(torch.from_numpy(pre.spatial(frames))[None])
    return x, enc.embed(x)


def _hf_pixels(folder, frames, video=True):
    """The HF processor's pixel_values, (1, T, 3, S, S)."""
    from transformers import AutoImageProcessor

    proc = AutoImageProcessor.from_pretrained(folder)
    px = proc(list(frames), return_tensors="pt")["pixel_values"]
    return px if video else px[None]


def _by_hand(family, folder, px):
    import transformers as tf

    with torch.no_grad():
        if family == "timesformer":
            return tf.TimesformerModel.from_pretrained(folder)(pixel_values=px).last_hidden_state[:, 0]
        if family == "videomae":
            m = tf.VideoMAEForVideoClassification.from_pretrained(folder)
            return m.fc_norm(m.videomae(pixel_values=px).last_hidden_state.mean(1))
        if family == "vivit":
            return tf.VivitModel.from_pretrained(folder)(pixel_values=px).last_hidden_state[:, 0]
        if family == "clip":
            out = tf.CLIPModel.from_pretrained(folder).get_image_features(pixel_values=px[0])
            out = out if isinstance(out, torch.Tensor) else out.pooler_output
            return out.mean(0, keepdim=True)
        if family == "clip_vision":
            m = tf.CLIPVisionModelWithProjection.from_pretrained(folder)
            return m(pixel_values=px[0]).image_embeds.mean(0, keepdim=True)
        if family == "xclip":
            out = tf.XCLIPModel.from_pretrained(folder).get_video_features(pixel_values=px)
            return out if isinstance(out, torch.Tensor) else out.pooler_output
        if family == "vjepa2":
            return tf.VJEPA2Model.from_pretrained(folder).get_vision_features(px).mean(1)
    raise AssertionError(family)


# what each tiny encoder loads as: (family, default pooling, embedding_dim)
DEFAULTS = {
    "timesformer": ("timesformer", "cls", 64),
    "videomae": ("videomae", "mean", 64),
    "vivit": ("vivit", "cls", 64),
    "clip": ("clip", "mean", 32),
    "clip_vision": ("clip", "mean", 32),
    "xclip": ("xclip", "video", 32),
    "vjepa2": ("vjepa2", "mean", 64),
}


@pytest.mark.parametrize("family", families())
def test_every_family_has_a_tiny_encoder_that_loads_and_embeds(tiny, family):
    # the family's adapter describes its tiny model; it loads back through the same adapter
    adapter = next(a for a in adapters() if a.family == family)
    variants = adapter.tiny_variants()
    assert variants and set(variants) <= set(tiny_families())
    for name in variants:
        enc = load_encoder(tiny(name), device="cpu", precision="fp32")
        assert (enc.info["family"], enc.pooling) == (family, adapter.poolings[0])
        out = enc.embed(torch.zeros(1, T, 3, S, S))  # built for T frames of S pixels
        assert out.shape == (1, enc.embedding_dim) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", tiny_families())
def test_family_gives_what_its_hf_model_gives_by_hand(tiny, name):
    assert name in DEFAULTS, f"add the by-hand reference of the tiny encoder {name!r} to this file"
    folder = tiny(name)
    enc = load_encoder(folder, device="cpu", precision="fp32")
    family, pooling, dim = DEFAULTS[name]
    assert (enc.info["family"], enc.pooling, enc.embedding_dim) == (family, pooling, dim)
    pre = enc.preprocessing("checkpoint", S)
    frames = _frames(pre)
    x, ours = _ours(enc, frames)
    assert ours.shape == (1, dim) and ours.dtype == torch.float32
    if name == "vjepa2":
        # its HF processor is a torchvision video processor; without torchvision, by hand:
        # shorter side to crop * 256 / 224 (the resize is the identity here), centre crop,
        # rescale by 1/255, ImageNet mean/std
        try:
            from transformers import AutoVideoProcessor

            px = AutoVideoProcessor.from_pretrained(folder)(list(frames), return_tensors="pt")["pixel_values_videos"]
        except ImportError:
            top, left = (frames.shape[1] - S) // 2, (frames.shape[2] - S) // 2
            crop = frames[:, top : top + S, left : left + S].astype(np.float32) / 255.0
            mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
            px = torch.from_numpy(((crop - mean) / std).transpose(0, 3, 1, 2).copy())[None]
    else:
        px = _hf_pixels(folder, frames, video=name not in ("clip", "clip_vision"))
    assert px.shape == (1, T, 3, S, S)
    torch.testing.assert_close(x, px, rtol=0, atol=2e-6)  # the same pixels as the HF processor
    theirs = _by_hand(name, folder, px)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    # the embedding depends on the frames (a test that can fail)
    _, other = _ours(enc, _frames(pre, seed=1))
    assert (other - ours).abs().max() > 1e-3


def test_every_family_is_registered():
    # every adapter class defined in a module of ucf_nb/encoders/ is registered, under its family
    import importlib
    import inspect
    import pkgutil

    import ucf_nb.encoders as package

    defined = {
        cls.family
        for info in pkgutil.iter_modules(package.__path__)
        for cls in vars(importlib.import_module(f"ucf_nb.encoders.{info.name}")).values()
        if inspect.isclass(cls) and issubclass(cls, EncoderAdapter) and cls is not EncoderAdapter
    }
    assert len(defined) >= 6 and families() == sorted(defined) == [a.family for a in adapters()]
    assert adapter_for("clip_vision_model").family == "clip"
    assert (adapter_for("vivit").default_T, adapter_for("vjepa2").default_img_size) == (32, 256)


def test_vivit_rescales_to_minus_one_one(tiny):
    pre = load_encoder(tiny("vivit"), device="cpu").preprocessing("checkpoint", S)
    assert pre.offset and pre.rescale_factor == pytest.approx(1 / 127.5) and pre.size == S * 256 // 224


def test_vision_only_clip_without_projection_is_refused(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            image_size=S,
            patch_size=32,
        )
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="visual_projection.*CLIPVisionModelWithProjection"):
        load_encoder(tmp_path, device="cpu")


@pytest.mark.parametrize(
    "name, bad_T, good",
    [("vivit", 6, "T=4"), ("xclip", 8, "T=4"), ("videomae", 2, "T=4"), ("vjepa2", 3, "multiple of 2")],
)
def test_a_clip_length_the_family_cannot_take_is_named(tiny, name, bad_T, good):
    enc = load_encoder(tiny(name), device="cpu", precision="fp32")
    with pytest.raises(ValueError, match=good):
        enc.embed(torch.zeros(1, bad_T, 3, S, S))


def test_vjepa2_and_clip_take_other_clip_lengths(tiny):
    for name, t in (("vjepa2", 8), ("clip", 3)):
        enc = load_encoder(tiny(name), device="cpu", precision="fp32")
        assert enc.embed(torch.zeros(2, t, 3, S, S)).shape == (2, enc.embedding_dim)


def test_videomae_without_fc_norm_is_the_mean_of_its_tokens(tmp_path):
    from transformers import VideoMAEConfig, VideoMAEModel

    config = VideoMAEConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=S,
        patch_size=32,
        num_frames=T,
        tubelet_size=2,
        use_mean_pooling=False,
    )
    torch.manual_seed(0)
    VideoMAEModel(config).save_pretrained(tmp_path)
    enc = load_encoder(tmp_path, device="cpu", precision="fp32")
    assert enc.info["fc_norm"] is False
    x = torch.randn(2, T, 3, S, S)
    with torch.no_grad():
        ref = VideoMAEModel.from_pretrained(tmp_path)(pixel_values=x).last_hidden_state.mean(1)
    torch.testing.assert_close(enc.embed(x), ref, rtol=1e-5, atol=1e-6)
