"""One way to check arguments (ucf_nb.checks), settings as values (ExtractSettings, IndexSettings, MILParams),
heads as a seam (ucf_nb.evaluate.heads), UcfNbError, and the deprecated head method names."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
import warnings

import numpy as np
import pytest

import ucf_nb
from ucf_nb import (
    ExtractSettings,
    IndexSettings,
    LinearProbe,
    MILHead,
    MILParams,
    UcfNbError,
    extract_split,
    fit_mil,
    fit_probe,
    get_head,
    heads,
    register_head,
    run_probe,
)
from ucf_nb.evaluate import heads as heads_module
from ucf_nb.evaluate.heads import ProbeHead

BAGS = [np.zeros((3, 4), np.float32), np.ones((4, 4), np.float32)]
X4 = np.arange(24, dtype=np.float32).reshape(6, 4)
Y4 = np.array([0, 1, 0, 1, 0, 1])


def _callers(tmp_path):
    """label -> a call of a public function with one keyword replaced (each fails before any work)."""
    return {
        "fit_mil": lambda **kw: fit_mil(BAGS, [0, 1], **kw),
        "fit_probe": lambda **kw: fit_probe(X4, Y4, **kw),
        "extract_split": lambda **kw: extract_split("train", tmp_path / "no_index.csv", out_dir=tmp_path, **kw),
        "run_probe": lambda **kw: run_probe(tmp_path, **kw),
        "submit_extraction": lambda **kw: ucf_nb.submit_extraction(
            ["train"], kw.pop("num_shards", 1), out_dir=tmp_path, **kw
        ),
        "uniform_sample_indices": lambda **kw: ucf_nb.uniform_sample_indices(0, 10, **kw),
        "clip_windows": lambda **kw: ucf_nb.clip_windows(100, **kw),
        "build_index": lambda **kw: ucf_nb.build_index(tmp_path / "no_dataset", **kw),
    }


# (function, integer parameter, its smallest allowed value)
INT_PARAMS = [
    *[("fit_mil", p, 1) for p in ("max_iter", "eval_every", "patience", "batch_size", "n_segments", "n_threads")],
    ("fit_mil", "seed", 0),
    ("fit_probe", "max_train", 2),
    ("fit_probe", "seed", 0),
    ("fit_probe", "grid_n_train", 2),
    ("fit_probe", "max_iter", 1),
    *[("extract_split", p, 1) for p in ("T", "img_size", "limit", "batch_size", "num_shards")],
    ("extract_split", "num_workers", 0),
    ("extract_split", "shard_index", 0),
    ("run_probe", "seed", 0),
    ("run_probe", "n_boot", 1),
    ("submit_extraction", "num_shards", 1),
    ("submit_extraction", "max_retries", 0),
    ("submit_extraction", "T", 1),
    ("submit_extraction", "batch_size", 1),
    ("uniform_sample_indices", "T", 1),
    ("clip_windows", "clip_len", 1),
    ("clip_windows", "stride", 1),
    ("build_index", "clip_len", 1),
    ("build_index", "stride", 1),
    ("build_index", "seed", 0),
    ("build_index", "probe_threads", 0),
]

# (function, real parameter, a value of the right type that it must refuse)
FLOAT_PARAMS = [
    ("fit_mil", "lr", -1.0),
    ("fit_mil", "lr", 0.0),
    ("fit_mil", "weight_decay", -1e-3),
    ("fit_mil", "dropout", 1.0),
    ("fit_mil", "dropout", -0.1),
    ("fit_mil", "margin", 0.0),
    ("fit_mil", "lambda_smooth", -1.0),
    ("fit_mil", "lambda_sparse", -1.0),
    ("fit_mil", "val_fraction", 1.0),
    ("fit_mil", "val_fraction", 0.0),
    ("fit_probe", "tol", 0.0),
    ("extract_split", "stall_timeout", 0.0),
    ("submit_extraction", "poll_s", -1.0),
    ("submit_extraction", "stall_timeout", -5.0),
    ("build_index", "val_fraction", 1.0),
    ("build_index", "anomaly_threshold", 0.0),
    ("build_index", "anomaly_threshold", 1.5),
]


def _named(name: str, value) -> str:
    return re.escape(f"{name}={value!r}")


@pytest.mark.parametrize("func,name,minimum", INT_PARAMS)
@pytest.mark.parametrize("bad", [2.9, True, "3", np.float64(4.0)])
def test_an_integer_parameter_of_the_wrong_type_is_a_type_error_naming_it(tmp_path, func, name, minimum, bad):
    # batch_size and num_workers also take the word "auto": another word is a wrong value
    error = ValueError if bad == "3" and name in ("batch_size", "num_workers") and func != "fit_mil" else TypeError
    with pytest.raises(error, match=_named(name, bad)):
        _callers(tmp_path)[func](**{name: bad})


@pytest.mark.parametrize("func,name,minimum", INT_PARAMS)
def test_an_integer_parameter_below_its_minimum_is_a_value_error_naming_it(tmp_path, func, name, minimum):
    with pytest.raises(ValueError, match=_named(name, minimum - 1)):
        _callers(tmp_path)[func](**{name: minimum - 1})


@pytest.mark.parametrize("func,name,bad", FLOAT_PARAMS)
def test_a_real_parameter_out_of_range_is_a_value_error_naming_it(tmp_path, func, name, bad):
    with pytest.raises(ValueError, match=_named(name, bad)):
        _callers(tmp_path)[func](**{name: bad})


@pytest.mark.parametrize("func,name", sorted({(f, n) for f, n, _ in FLOAT_PARAMS}))
@pytest.mark.parametrize("bad", [True, "0.1", None])
def test_a_real_parameter_of_the_wrong_type_is_a_type_error_naming_it(tmp_path, func, name, bad):
    with pytest.raises(TypeError, match=_named(name, bad)):
        _callers(tmp_path)[func](**{name: bad})


@pytest.mark.parametrize("func,name", [("fit_mil", "lr"), ("fit_probe", "tol"), ("extract_split", "stall_timeout")])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_and_infinity_are_refused(tmp_path, func, name, bad):
    with pytest.raises(ValueError, match=_named(name, bad)):
        _callers(tmp_path)[func](**{name: bad})


@pytest.mark.parametrize(
    "func,name",
    [
        ("fit_mil", "refit"),
        ("fit_probe", "fast"),
        ("extract_split", "resume"),
        ("extract_split", "retry_failed"),
        ("extract_split", "compile"),
        ("build_index", "count_frames"),
    ],
)
def test_a_flag_must_be_a_bool(tmp_path, func, name):
    with pytest.raises(TypeError, match=_named(name, 1)):
        _callers(tmp_path)[func](**{name: 1})


def test_a_numpy_integer_is_an_integer():
    params = MILParams(max_iter=np.int64(7), hidden=(np.int32(8), 4))
    assert params.max_iter == 7 and type(params.max_iter) is int and params.hidden == (8, 4)


# ------------------------------------------------------------------------------ UcfNbError


def test_every_error_of_the_package_is_a_ucf_nb_error_and_still_what_it_was():
    errors = [getattr(ucf_nb, n) for n in ucf_nb.__all__ if n.endswith("Error") and n != "UcfNbError"]
    assert errors
    for cls in errors:
        assert issubclass(cls, UcfNbError), cls
        assert any(issubclass(cls, b) for b in (OSError, ValueError, RuntimeError, TimeoutError)), cls
    exc = ucf_nb.StoreWriteError(28, "disk full")
    assert isinstance(exc, OSError) and exc.errno == 28 and exc.strerror == "disk full"
    with pytest.raises(UcfNbError, match="cannot read video"):
        raise ucf_nb.VideoError("a.mp4", "cannot read video", "re-encode it")


# ------------------------------------------------------------------------------ settings as values


def _fields(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls)}


def test_extract_settings_are_the_options_of_extract_split_with_the_same_defaults():
    sig = inspect.signature(extract_split).parameters
    for name, default in _fields(ExtractSettings).items():
        assert sig[name].default == default, name
    where = set(sig) - set(_fields(ExtractSettings)) - {"settings"}
    assert where == {"split", "index_path", "out_dir", "shard_index", "num_shards"}
    s = ExtractSettings(checkpoint=ucf_nb.paths.project_root() / "x", T=8)
    assert json.loads(json.dumps(s.to_dict()))["checkpoint"].endswith("x")
    assert s.replace(limit=4).limit == 4 and s.limit is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.T = 4


def test_extract_split_takes_settings_or_keywords_but_not_both(tmp_path):
    with pytest.raises(TypeError, match=_named("T", 2.9)):
        ExtractSettings(T=2.9)
    with pytest.raises(ValueError, match="pass T=8 inside settings="):
        extract_split("train", tmp_path / "no_index.csv", settings=ExtractSettings(T=16), T=8)
    with pytest.raises(TypeError, match="settings must be a ExtractSettings"):
        extract_split("train", tmp_path / "no_index.csv", settings={"T": 8})
    with pytest.raises(FileNotFoundError):  # checked settings go through to the work
        extract_split("train", tmp_path / "no_index.csv", settings=ExtractSettings(T=16))


def test_index_settings_are_the_options_of_build_index_with_the_same_defaults():
    sig = inspect.signature(ucf_nb.build_index).parameters
    for name, default in _fields(IndexSettings).items():
        assert sig[name].default == default, name
    where = set(sig) - set(_fields(IndexSettings)) - {"settings"}
    assert where == {"dataset_root", "split_file", "annotation_path", "index_path", "annotation_file", "num_workers"}
    s = IndexSettings(clip_len=np.int64(16), val_fraction=0)
    assert type(s.clip_len) is int and type(s.val_fraction) is float
    assert json.loads(json.dumps(s.to_dict())) == {**s.to_dict(), "clip_len": 16}
    assert s.replace(stride=8).stride == 8 and s.stride == 16
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.clip_len = 8


def test_build_index_takes_settings_or_keywords_but_not_both(tmp_path):
    with pytest.raises(TypeError, match=_named("clip_len", 2.5)):
        IndexSettings(clip_len=2.5)
    with pytest.raises(ValueError, match="label_mode"):
        IndexSettings(label_mode="frame")
    with pytest.raises(ValueError, match="pass stride=8 inside settings="):
        ucf_nb.build_index(tmp_path / "no_root", settings=IndexSettings(clip_len=16), stride=8)
    # the old name of probe_threads is refused beside settings too
    with pytest.raises(ValueError, match="pass probe_threads=2 inside settings="), pytest.warns(FutureWarning):
        ucf_nb.build_index(tmp_path / "no_root", settings=IndexSettings(), num_workers=2)
    with pytest.raises(TypeError, match="settings must be a IndexSettings"):
        ucf_nb.build_index(tmp_path / "no_root", settings={"clip_len": 16})
    with pytest.raises(FileNotFoundError, match="is not a folder"):  # checked settings go through to the work
        ucf_nb.build_index(tmp_path / "no_root", settings=IndexSettings(clip_len=16))


def test_mil_params_are_the_settings_of_fit_mil_with_the_same_defaults():
    sig = inspect.signature(fit_mil).parameters
    for name, default in _fields(MILParams).items():
        assert sig[name].default == default, name
    assert set(sig) - set(_fields(MILParams)) == {
        "bags",
        "labels",
        "seed",
        "val_bags",
        "val_labels",
        "progress",
        "params",
    }
    assert json.loads(json.dumps(MILParams().to_dict()))["hidden"] == [512, 32]
    with pytest.raises(ValueError, match="two layer widths"):
        MILParams(hidden=(8,))
    with pytest.raises(TypeError, match="'n_epochs', not a setting of fit_mil"):
        MILParams.from_mapping({"n_epochs": 3})


def test_fit_mil_with_params_is_fit_mil_with_the_keywords():
    rng = np.random.default_rng(0)
    bags = [rng.normal(size=(6, 4)).astype(np.float32) + (i % 2) for i in range(8)]
    labels = [i % 2 for i in range(8)]
    kw = dict(max_iter=6, eval_every=2, patience=2, hidden=(8, 4), batch_size=2)
    a = fit_mil(bags, labels, **kw)
    b = fit_mil(bags, labels, params=MILParams(**kw))
    strip = lambda d: {k: v for k, v in d.items() if k != "fit_s"}  # noqa: E731
    assert strip(a.settings) == strip(b.settings)
    for k in a.weights:
        np.testing.assert_array_equal(a.weights[k], b.weights[k])
    # what metrics.json records: "n_segments", then the training settings in MILParams.training()'s order
    keys = list(a.settings)
    assert keys[:2] == ["head", "n_segments"] and keys[2 : 2 + len(MILParams().training())] == list(
        MILParams().training()
    )
    with pytest.raises(ValueError, match="pass max_iter=6 inside params="):
        fit_mil(bags, labels, params=MILParams(), max_iter=6)
    with pytest.raises(TypeError, match="params must be a MILParams or None"):
        fit_mil(bags, labels, params={"max_iter": 6})


# ------------------------------------------------------------------------------ heads as a seam


def test_linear_and_mil_are_the_first_registered_heads_each_with_its_folder():
    assert heads()[:2] == ("linear", "mil")
    assert [get_head(h).folder for h in heads()[:2]] == ["probe", "probe-mil"]
    assert get_head("mil").fits_on == "bags" and get_head("linear").fits_on == "clips"
    with pytest.raises(ValueError, match="head must be one of .*got head='svm'"):
        get_head("svm")
    with pytest.raises(TypeError, match="ProbeHead subclass"):
        register_head(dict)

    class Clash(ProbeHead):
        name, folder = "linear2", "probe"

    with pytest.raises(ValueError, match="clashes with LinearHead"):
        register_head(Clash)


def test_run_probe_refuses_an_option_of_another_head_before_reading(tmp_path):
    with pytest.raises(ValueError, match=r"Cs=\[0.1\] applies to the linear head only"):
        run_probe(tmp_path, head="mil", Cs=[0.1])
    with pytest.raises(ValueError, match="mil_params=.* applies to the mil head only"):
        run_probe(tmp_path, head="linear", mil_params={"max_iter": 3})
    with pytest.raises(TypeError, match="'n_epochs', not a setting of fit_mil"):
        run_probe(tmp_path, head="mil", mil_params={"n_epochs": 3})


@pytest.fixture
def mean_head():
    """A third head, registered for one test: scores a clip by the mean of its features."""

    @register_head
    class MeanHead(ProbeHead):
        name, folder, title, fits_on = "mean", "probe-mean", "Mean of features", "clips"

        def fit(self, train, val, *, seed, **options):
            return {"settings": {"seed": seed}}

        def score_clips(self, fitted, split, X, rows):
            z = np.asarray(X, np.float64).mean(axis=1)
            return 1 / (1 + np.exp(-z))

        def settings(self, fitted):
            return dict(fitted["settings"])

    yield MeanHead
    heads_module._REGISTRY.pop("mean")


def test_a_registered_head_runs_through_run_probe_and_is_read_back_by_runs(tmp_path, mean_head):
    from test_probe import _write_store  # the store every split of which run_probe reads

    from ucf_nb.evaluate.runs import read_run

    out, ann, _ = _write_store(tmp_path)
    res = run_probe(out, annotation_path=ann, head="mean", n_boot=5)
    assert res.paths["metrics"] == out / "probe-mean" / "metrics.json"
    assert res.metrics["head"] == "mean" and res.metrics["settings"] == {"seed": 0}
    assert "mean" in heads() and "mean" in read_run(out)["heads"]


# ------------------------------------------------------------------------------ deprecated names


def test_linear_probe_predict_proba_is_deprecated_for_score_clips():
    probe = LinearProbe(mean=np.zeros(4), scale=np.ones(4), coef=np.array([0.1, -0.2, 0.3, 0.0]), intercept=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = probe.score_clips(X4)
    with pytest.warns(FutureWarning, match="use LinearProbe.score_clips"):
        old = probe.predict_proba(X4)
    np.testing.assert_array_equal(old, new)
    assert new.shape == (len(X4),)


def test_mil_head_score_is_deprecated_for_score_clips():
    rng = np.random.default_rng(1)
    w = {
        "W1": rng.normal(size=(8, 4)).astype(np.float32),
        "b1": np.zeros(8, np.float32),
        "W2": rng.normal(size=(2, 8)).astype(np.float32),
        "b2": np.zeros(2, np.float32),
        "W3": rng.normal(size=(1, 2)).astype(np.float32),
        "b3": np.zeros(1, np.float32),
    }
    head = MILHead(mean=np.zeros(4), scale=np.ones(4), weights=w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = head.score_clips(X4)
    with pytest.warns(FutureWarning, match="use MILHead.score_clips"):
        old = head.score(X4)
    np.testing.assert_array_equal(old, new)
