"""Ten-crop views: the geometry, a real ten-crop extraction (resume, shards, retry, fingerprint)
and both probe heads on the mean over views."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from ucf_nb import Preprocessing
from ucf_nb.manifest import read_manifest
from ucf_nb.store import ExtractMismatchError, load_embeddings

from test_extract import FAST, S, T, _arrays, _assert_same, _run, data  # noqa: F401 (data: fixture)

TEN = dict(FAST, views="ten_crop")


# --------------------------------------------------------------------------- the geometry

def _ten_views_by_hand(frame: np.ndarray, crop: int, short: int) -> np.ndarray:
    """The field's ten-crop (torchvision's TenCrop), re-stated: shorter side to ``short``
    (bilinear, longer side truncated), then the four corners and the centre (its offset
    rounded as torchvision rounds it, half to even) of the frame, then the same five crops of
    the frame mirrored left-right. (10, crop, crop, 3)."""
    h, w = frame.shape[:2]
    if h <= w:
        nh, nw = short, int(short * w / h)
    else:
        nh, nw = int(short * h / w), short
    big = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)

    def five(img):
        at = {"top-left": (0, 0), "top-right": (0, nw - crop), "bottom-left": (nh - crop, 0),
              "bottom-right": (nh - crop, nw - crop),
              "centre": (int(round((nh - crop) / 2)), int(round((nw - crop) / 2)))}
        return [img[y:y + crop, x:x + crop] for y, x in at.values()]

    return np.stack(five(big) + five(np.ascontiguousarray(big[:, ::-1])))


@pytest.mark.parametrize("shape", [(120, 170), (170, 120), (73, 73)])
def test_ten_crop_views_are_the_corners_the_centre_and_their_mirrors(shape):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, *shape, 3), dtype=np.uint8)
    prep = Preprocessing.seed(64).with_views("ten_crop")
    assert (prep.resize, prep.size, prep.crop_size, prep.n_views) == ("shortest_edge", 73, 64, 10)
    crops = prep.spatial(frames)                      # what a decode worker ships: six crops per frame
    assert crops.shape == (3, 6, 64, 64, 3) and crops.dtype == np.uint8
    views = prep.expand_views(crops)                  # numpy, one clip: (10, T, S, S, 3)
    by_torch = prep.expand_views(torch.from_numpy(crops)[None])[0].numpy()  # a batch on the device
    for t in range(3):
        want = _ten_views_by_hand(frames[t], 64, 73)
        assert np.array_equal(views[:, t], want) and np.array_equal(by_torch[:, t], want)
    # the long side's margin is odd here (103 - 64 = 39): round-half-to-even puts the centre at 20,
    # and the flipped frame's centre is the mirror of the crop at 19
    if shape == (120, 170):
        big = cv2.resize(frames[0], (103, 73))
        assert np.array_equal(views[4, 0], big[4:68, 20:84])
        assert np.array_equal(views[9, 0], big[4:68, 19:83][:, ::-1])
        assert np.array_equal(views[5, 0], big[0:64, 39:103][:, ::-1])     # flipped top-left = mirrored top-right


def test_ten_crop_matches_torchvision_ten_crop():
    F = pytest.importorskip("torchvision.transforms.functional")
    frame = np.random.default_rng(1).integers(0, 256, (120, 170, 3), dtype=np.uint8)
    prep = Preprocessing.seed(64).with_views("ten_crop")
    ours = prep.expand_views(prep.spatial(frame[None]))[:, 0]
    resized = torch.from_numpy(cv2.resize(frame, (103, 73))).permute(2, 0, 1)
    theirs = [c.permute(1, 2, 0).numpy() for c in F.ten_crop(resized, [64, 64])]
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_ten_crop_resize_follows_the_checkpoint_crop_and_centre_dicts_are_unchanged():
    center = Preprocessing(resize="shortest_edge", size=224, crop_size=224, interpolation="cubic",
                           mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), preset="checkpoint", source="x")
    ten = center.with_views("ten_crop")
    assert (ten.size, ten.crop_size, ten.interpolation, ten.mean) == (256, 224, "cubic", (0.5, 0.5, 0.5))
    assert Preprocessing.seed(256).with_views("ten_crop").size == 293          # 256 x 256 / 224 = 292.57
    assert center.with_views("center") is center
    # a centre preprocessing's dict (the run's fingerprint) has no views key, as before views existed
    assert "views" not in center.to_dict() and ten.to_dict()["views"] == "ten_crop"
    assert Preprocessing.from_dict(ten.to_dict()) == ten
    with pytest.raises(ValueError, match="views must be 'center' or 'ten_crop', got views='five'"):
        center.with_views("five")
    with pytest.raises(ValueError, match="needs resize='shortest_edge'"):
        Preprocessing(resize="squash", size=64, views="ten_crop")
