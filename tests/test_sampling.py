import numpy as np
import pytest

from ucf_nb import clip_windows, uniform_sample_indices


def test_uniform_sample_matches_prototype_rule():
    # n = 32, T = 8: linspace(0, 31, 8) = 0, 4.43, 8.86, 13.29, 17.71, 22.14, 26.57, 31
    np.testing.assert_array_equal(uniform_sample_indices(16, 48, 8), 16 + np.array([0, 4, 9, 13, 18, 22, 27, 31]))


def test_uniform_sample_rounds_half_to_even():
    # n = 4, T = 3: linspace(0, 3, 3) = 0, 1.5, 3 -> numpy rounds 1.5 to 2
    np.testing.assert_array_equal(uniform_sample_indices(0, 4, 3), [0, 2, 3])
    # n = 6, T = 3: 0, 2.5, 5 -> 2.5 rounds to 2
    np.testing.assert_array_equal(uniform_sample_indices(10, 16, 3), [10, 12, 15])


@pytest.mark.parametrize("start,end,T", [(0, 32, 8), (5, 7, 8), (100, 101, 4), (0, 1000, 16)])
def test_uniform_sample_stays_inside_window(start, end, T):
    idx = uniform_sample_indices(start, end, T)
    assert idx.shape == (T,) and idx.dtype == np.int64
    assert idx.min() == start and idx.max() == end - 1
    assert np.all(np.diff(idx) >= 0)


def test_uniform_sample_rejects_bad_input():
    with pytest.raises(ValueError, match="end_frame=5"):
        uniform_sample_indices(5, 5, 8)
    with pytest.raises(ValueError, match="T=0"):
        uniform_sample_indices(0, 32, 0)


def test_clip_windows():
    w = clip_windows(80, 32, 16)
    np.testing.assert_array_equal(w, [[0, 32], [16, 48], [32, 64], [48, 80]])
    assert clip_windows(31, 32, 16).shape == (0, 2)
    np.testing.assert_array_equal(clip_windows(32, 32, 16), [[0, 32]])
    # the last window ends at or before the last frame
    assert clip_windows(95, 32, 16)[-1, 1] <= 95
