"""ucf_nb.preprocess: the presets, the two halves (spatial / normalize), the round trip."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from ucf_nb import Preprocessing
from ucf_nb.demo import make_demo_encoder
from ucf_nb.demo.synthetic import synthetic_frame


@pytest.fixture(scope="module")
def frames():
    """Eight RGB frames (8, 240, 320, 3) of the synthetic scene, with an event."""
    return np.stack([synthetic_frame(k, seed=3, event=True) for k in range(8)])


@pytest.fixture(scope="module")
def demo_encoder(tmp_path_factory):
    return make_demo_encoder(tmp_path_factory.mktemp("enc") / "encoder")


def prototype_arithmetic(rgb_frames, size):
    """The prototype's float clip, written out: squash-resize each frame bilinearly,
    scale to [0, 1], subtract the ImageNet mean, divide by the std -> (T, 3, S, S)."""
    out = []
    for f in rgb_frames:
        out.append(cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR))
    arr = np.stack(out).astype(np.float32) / 255.0
    arr = (arr - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))


@pytest.mark.parametrize("size", [224, 96])
def test_seed_preset_reproduces_the_prototype_bit_for_bit(frames, size):
    pre = Preprocessing.seed(size)
    small = pre.spatial(frames)
    assert small.shape == (8, size, size, 3) and small.dtype == np.uint8
    got = pre.normalize(torch.from_numpy(small)[None])  # (1, T, 3, S, S)
    assert got.shape == (1, 8, 3, size, size) and got.dtype == torch.float32
    assert torch.equal(got[0], prototype_arithmetic(frames, size))


def test_checkpoint_preset_reads_the_encoders_preprocessor_config(demo_encoder):
    pre = Preprocessing.from_pretrained(demo_encoder)
    assert (pre.resize, pre.size, pre.crop_size, pre.interpolation) == ("shortest_edge", 224, 224, "linear")
    assert pre.mean == (0.45, 0.45, 0.45) and pre.std == (0.225, 0.225, 0.225)
    assert pre.preset == "checkpoint" and pre.source == str(demo_encoder)


def test_checkpoint_preset_agrees_with_the_encoders_own_processor(demo_encoder):
    from transformers import AutoImageProcessor

    # a smooth random texture: any error in scale or crop position shows
    rng = np.random.default_rng(1)
    frames = np.stack(
        [
            cv2.resize(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), (320, 240), interpolation=cv2.INTER_CUBIC)
            for _ in range(4)
        ]
    )
    pre = Preprocessing.from_pretrained(demo_encoder)
    ours = pre.normalize(torch.from_numpy(pre.spatial(frames)))  # (T, 3, 224, 224)
    theirs = AutoImageProcessor.from_pretrained(demo_encoder)(list(frames), return_tensors="pt")
    theirs = theirs["pixel_values"][0]
    assert theirs.shape == ours.shape == (4, 3, 224, 224)

    def grey_levels(x):
        return ((x - theirs).abs() * 0.225 * 255).mean().item()

    # OpenCV's bilinear vs PIL's antialiased bilinear: same geometry, about a grey level apart
    assert grey_levels(ours) < 1.5
    # a crop one pixel off, or the seed's squash, is far further away
    off = Preprocessing(resize="shortest_edge", size=224, crop_size=224, mean=pre.mean, std=pre.std)
    wide = np.stack([cv2.resize(f, (298, 224), interpolation=cv2.INTER_LINEAR) for f in frames])
    shifted = off.normalize(torch.from_numpy(np.ascontiguousarray(wide[:, :, 38:262])))
    squash = Preprocessing(size=224, mean=pre.mean, std=pre.std)
    squashed = squash.normalize(torch.from_numpy(squash.spatial(frames)))
    assert grey_levels(shifted) > 3 * grey_levels(ours)
    assert grey_levels(squashed) > 3 * grey_levels(ours)


def test_shortest_edge_resizes_then_centre_crops():
    pre = Preprocessing(resize="shortest_edge", size=112, crop_size=100)
    frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert pre.resized_shape(240, 320) == (112, 149)  # 112 * 320 / 240 = 149.33, truncated
    assert pre.resized_shape(320, 240) == (149, 112)
    expect = cv2.resize(frame, (149, 112), interpolation=cv2.INTER_LINEAR)[6:106, 24:124]
    np.testing.assert_array_equal(pre.spatial(frame), expect)
    assert pre.spatial(frame[None]).shape == (1, 100, 100, 3)


def test_normalize_keeps_the_device_and_casts(frames):
    pre = Preprocessing.seed(32)
    x = torch.from_numpy(pre.spatial(frames))
    half = pre.normalize(x[None], dtype=torch.float16)
    full = pre.normalize(x[None])
    assert half.dtype == torch.float16 and half.device == x.device
    assert half.is_contiguous() and half.shape == (1, 8, 3, 32, 32)
    assert torch.allclose(half.float(), full, atol=1e-2)
    # channel 0 of pixel (0, 0) of frame 0, by hand
    v = (x[0, 0, 0, 0].item() / 255.0 - 0.485) / 0.229
    assert full[0, 0, 0, 0, 0].item() == pytest.approx(v, rel=1e-6)


def test_dict_round_trip_is_json_safe(demo_encoder):
    for pre in (
        Preprocessing.seed(),
        Preprocessing.from_pretrained(demo_encoder),
        Preprocessing(resize="shortest_edge", size=256, crop_size=224, interpolation="cubic"),
    ):
        d = json.loads(json.dumps(pre.to_dict()))
        assert Preprocessing.from_dict(d) == pre
    with pytest.raises(ValueError, match="colour"):
        Preprocessing.from_dict({**Preprocessing.seed().to_dict(), "colour": "rgb"})


def test_from_processor_config_square_size_is_a_squash():
    pre = Preprocessing.from_processor_config(
        {"size": {"height": 160, "width": 160}, "resample": 3, "image_mean": [0.5] * 3, "image_std": [0.5] * 3},
        source="x",
    )
    assert (pre.resize, pre.size, pre.crop_size, pre.interpolation) == ("squash", 160, None, "cubic")
    assert pre.output_size == 160
    with pytest.raises(ValueError, match="non-square"):
        Preprocessing.from_processor_config({"size": {"height": 160, "width": 200}})


def test_bad_values_get_one_sentence_naming_them():
    with pytest.raises(ValueError, match=r"resize='stretch'.*'squash', 'shortest_edge'"):
        Preprocessing(resize="stretch")
    with pytest.raises(ValueError, match="interpolation='bilinear'"):
        Preprocessing(interpolation="bilinear")
    with pytest.raises(ValueError, match="crop_size=300"):
        Preprocessing(resize="shortest_edge", size=224, crop_size=300)
    with pytest.raises(ValueError, match="std"):
        Preprocessing(std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="size"):
        Preprocessing(size=0)
    with pytest.raises(ValueError, match="uint8"):
        Preprocessing.seed().spatial(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        Preprocessing.seed().normalize(torch.zeros(1, 2, 8, 8, 3))


def _identity_frames(t=3, h=40, w=48, seed=2):
    """Frames already at a processor's resize size, so PIL and OpenCV agree exactly and
    only the crop, the rescale and the normalisation are compared."""
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_vivit_rescale_with_offset_matches_its_processor(tmp_path):
    from transformers import VivitImageProcessor

    VivitImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    pre = Preprocessing.from_pretrained(tmp_path)
    assert pre.offset is True and pre.rescale_factor == pytest.approx(1 / 127.5)
    frames = _identity_frames()
    ours = pre.normalize(torch.from_numpy(pre.spatial(frames)))
    theirs = VivitImageProcessor.from_pretrained(tmp_path)(list(frames), return_tensors="pt")["pixel_values"][0]
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    # [-1, 1] before mean/std: pixel 0 -> (-1 - 0.5) / 0.5, pixel 255 -> (1 - 0.5) / 0.5
    ends = pre.normalize(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 2, 1).expand(1, 1, 2, 3).contiguous())
    assert ends[0, 0, 0, :].tolist() == pytest.approx([-3.0, 1.0])


def test_no_rescale_keeps_0_to_255():
    pre = Preprocessing.from_processor_config(
        {"size": {"shortest_edge": 8}, "do_rescale": False, "do_normalize": False}
    )
    assert pre.rescale_factor == 1.0
    x = torch.full((1, 8, 8, 3), 200, dtype=torch.uint8)
    assert pre.normalize(x).unique().tolist() == [200.0]


def test_video_processor_config_is_read_when_there_is_no_image_one(tmp_path):
    (tmp_path / "video_preprocessor_config.json").write_text(
        json.dumps(
            {
                "video_processor_type": "VJEPA2VideoProcessor",
                "do_resize": True,
                "size": {"shortest_edge": 73},
                "do_center_crop": True,
                "crop_size": {"height": 64, "width": 64},
                "resample": 2,
                "do_rescale": True,
                "rescale_factor": 1 / 255,
                "do_normalize": True,
                "image_mean": [0.485, 0.456, 0.406],
                "image_std": [0.229, 0.224, 0.225],
            }
        )
    )
    pre = Preprocessing.from_pretrained(tmp_path)
    assert (pre.resize, pre.size, pre.crop_size, pre.interpolation) == ("shortest_edge", 73, 64, "linear")


@pytest.mark.parametrize(
    "field, value",
    [("resample", 5), ("do_pad", True), ("crop_pct", 0.875), ("do_flip_channel_order", True), ("offset", "yes")],
)
def test_pixel_fields_not_followed_are_refused_by_name(field, value):
    config = {"size": {"shortest_edge": 32}, field: value}
    with pytest.raises(ValueError, match=f"{field}="):
        Preprocessing.from_processor_config(config, source="ckpt")


def test_rescale_and_offset_round_trip_and_are_checked():
    pre = Preprocessing(rescale_factor=1 / 127.5, offset=True)
    assert Preprocessing.from_dict(json.loads(json.dumps(pre.to_dict()))) == pre
    with pytest.raises(ValueError, match="rescale_factor"):
        Preprocessing(rescale_factor=0)
    with pytest.raises(TypeError, match="offset must be True or False, got offset='yes'"):
        Preprocessing(offset="yes")


def test_fields_a_legacy_config_lacks_take_its_processor_classes_defaults(tmp_path):
    """VideoMAE-era ``*FeatureExtractor`` configs write ``size: N`` and no ``crop_size`` or
    ``do_rescale``; Hugging Face fills them from the processor class (crop 224, rescale 1/255).
    ucf_nb follows the same values instead of refusing a crop it says is missing."""
    from transformers import AutoImageProcessor, VideoMAEConfig

    VideoMAEConfig(image_size=224, num_frames=16).save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "feature_extractor_type": "VideoMAEFeatureExtractor",
                "image_mean": [0.485, 0.456, 0.406],
                "image_std": [0.229, 0.224, 0.225],
                "resample": 2,
                "size": 224,
            }
        )
    )
    pre = Preprocessing.from_pretrained(tmp_path)
    assert (pre.resize, pre.size, pre.crop_size, pre.rescale_factor) == ("shortest_edge", 224, 224, 1 / 255)
    frames = _identity_frames(h=224, w=260)
    ours = pre.normalize(torch.from_numpy(pre.spatial(frames)))
    theirs = AutoImageProcessor.from_pretrained(tmp_path)(list(frames), return_tensors="pt")["pixel_values"][0]
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_mean_std_and_resample_a_config_lacks_are_the_processor_classes(tmp_path):
    """A CLIP config without image_mean/std or resample: CLIP's own mean/std and bicubic, not
    ImageNet's and bilinear."""
    from transformers import CLIPConfig

    CLIPConfig().save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "feature_extractor_type": "CLIPFeatureExtractor",
                "size": 224,
                "crop_size": 224,
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
            }
        )
    )
    pre = Preprocessing.from_pretrained(tmp_path)
    assert pre.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    assert pre.std == pytest.approx((0.26862954, 0.26130258, 0.27577711))
    assert pre.interpolation == "cubic"


def test_shortest_edge_without_a_centre_crop_is_refused_not_cropped():
    """Hugging Face keeps the aspect ratio there (64 x 85 from 48 x 64): ucf_nb, whose frames are
    square, says so instead of cropping in silence."""
    config = {
        "do_resize": True,
        "size": {"shortest_edge": 64},
        "do_center_crop": False,
        "crop_size": {"height": 64, "width": 64},
    }
    with pytest.raises(ValueError, match="do_center_crop=False"):
        Preprocessing.from_processor_config(config, source="ckpt")


@pytest.mark.parametrize(
    "pre",
    [
        Preprocessing.seed(96),
        Preprocessing(resize="shortest_edge", size=112, crop_size=100),
        Preprocessing.seed(240),
        Preprocessing.seed(64).with_views("ten_crop"),
    ],
    ids=["squash", "crop", "no-resize", "ten-crop"],
)
def test_spatial_frame_writes_into_a_given_slot(frames, pre):
    """``out=``: the result lands in the caller's array (a slot of a preallocated clip), the
    same pixels as without it; a slot of the wrong shape is refused by name."""
    frame = np.ascontiguousarray(frames[3, :240, :240]) if pre.output_size == 240 else frames[3]
    clip = np.zeros((2, *pre.frame_shape), dtype=np.uint8)
    got = pre.spatial_frame(frame, out=clip[1])
    assert np.shares_memory(got, clip) and not clip[0].any()
    np.testing.assert_array_equal(clip[1], pre.spatial_frame(frame))
    with pytest.raises(ValueError, match=r"out must be a C-contiguous uint8 array of shape \("):
        pre.spatial_frame(frame, out=np.zeros((5, 5, 3), np.uint8))
