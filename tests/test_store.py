"""EmbeddingStore: shards, index order, failed rows, fingerprints, manifest, load_embeddings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from ucf_nb.files import file_lock
from ucf_nb.store import EmbeddingStore, ExtractMismatchError, embedding_stats, load_embeddings, shard_bounds
from ucf_nb.store.manifest import read_manifest

D = 8
T = 8


def _index(tmp_path, n_per_video=(5, 3, 4), split="val"):
    """A small index CSV (contract columns) whose rows all belong to ``split``."""
    recs = []
    for v, n in enumerate(n_per_video):
        for k in range(n):
            recs.append(
                dict(
                    split=split,
                    y=v % 2,
                    category="Abuse" if v % 2 else "Normal",
                    path=f"videos/v{v}.mp4",
                    clip_idx=k,
                    start_frame=16 * k,
                    end_frame=16 * k + 32,
                    clip_len=32,
                    stride=16,
                    fps=30.0,
                    n_frames=200,
                    video=f"v{v}.mp4",
                    anomaly_frac=np.nan,
                )
            )
    path = tmp_path / "index.csv"
    pd.DataFrame(recs).to_csv(path, index=False)
    return path, pd.read_csv(path)


def _settings(index_path, **change):
    from ucf_nb.files import file_sha256

    s = dict(
        index_sha256=file_sha256(index_path),
        checkpoint="enc",
        revision="sha256:abc",
        model_type="timesformer",
        embedding_dim=D,
        pooling="cls",
        precision="fp32",
        T=T,
        img_size=64,
        preprocessing={"resize": "squash", "size": 64, "mean": [0.5] * 3, "std": [0.2] * 3},
        index_path=str(index_path),
        versions={"numpy": np.__version__},
    )
    s.update(change)
    return s


def _vectors(rows):
    """A distinct, recognisable embedding per index row: row r -> [r, r + 0.5, ...]."""
    rows = np.asarray(rows, dtype=np.float32)
    return (rows[:, None] + np.arange(D, dtype=np.float32)[None, :] / 2).astype(np.float16)


def _write_whole_split(store, df, split="val"):
    """Open the one shard of ``split``, write an embedding for every row and commit it."""
    rows = df.index.to_numpy()
    w = store.open_shard(split, rows, df["path"].to_numpy(), D)
    w.write(rows, _vectors(rows), np.full(len(rows), T))
    w.commit()
    return w


def test_shard_bounds_are_blocks_of_whole_videos():
    videos = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 4 + ["d"] * 4)
    for n in (1, 2, 3, 4):
        b = shard_bounds(videos, n)
        assert b[0] == 0 and b[-1] == len(videos) and len(b) == n + 1
        assert (np.diff(b) >= 0).all()
        for cut in b[1:-1]:  # never inside a video
            assert cut in (0, 5, 8, 12, 16)
    assert shard_bounds(videos, 2).tolist() == [0, 8, 16]
    # more shards than videos: some shards are empty, every row still owned exactly once
    b = shard_bounds(videos[:5], 3)
    assert b[0] == 0 and b[-1] == 5 and sorted(np.diff(b).tolist()) == [0, 0, 5]
    with pytest.raises(ValueError, match="num_shards must be an int >= 1, got num_shards=0"):
        shard_bounds(videos, 0)


def test_written_rows_count_as_done_only_once_committed(tmp_path):
    index_path, df = _index(tmp_path)
    rows = df.index.to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    store.check_settings(_settings(index_path))
    w = store.open_shard("val", rows, df["path"].to_numpy(), D)
    w.write(rows[:3], _vectors(rows[:3]), np.full(3, T))  # well inside COMMIT_EVERY
    # a run killed now would embed these rows again: they are still pending on disk
    np.testing.assert_array_equal(store.open_shard("val", rows, df["path"].to_numpy(), D).pending_rows(), rows)
    w.commit()
    np.testing.assert_array_equal(w.pending_rows(), rows[3:])
    emb = np.load(w.folder / "emb.npy")
    np.testing.assert_array_equal(emb[:3], _vectors(rows[:3]))


def test_rows_land_in_index_order_whatever_the_batch_order(tmp_path):
    index_path, df = _index(tmp_path)
    rows = df.index.to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    settings = _settings(index_path)
    store.check_settings(settings)
    w = store.open_shard("val", rows, df["path"].to_numpy(), D)
    rng = np.random.default_rng(0)
    order = rng.permutation(rows)
    n_real = np.full(len(rows), T)
    n_real[order == 7] = 3  # a short clip
    for batch in np.array_split(order, 4):
        nr = np.where(batch == 7, 3, T)
        assert not store.finalize("val", settings, rows, df["y"], T)
        w.write(batch, _vectors(batch), nr)
        w.commit()
    assert store.finalize("val", settings, rows, df["y"], T)

    X, y, got_rows = load_embeddings(tmp_path / "out", "val")
    assert isinstance(X, np.memmap) and X.dtype == np.float16 and X.shape == (len(rows), D)
    np.testing.assert_array_equal(np.asarray(X), _vectors(rows))
    assert y.dtype == np.int8 and y.tolist() == df["y"].tolist()
    assert got_rows.index.tolist() == rows.tolist()
    pd.testing.assert_frame_equal(got_rows.reset_index(drop=True)[["path", "clip_idx"]], df[["path", "clip_idx"]])
    m = read_manifest(tmp_path / "out" / "manifest.json")
    e = m["splits"]["val"]
    assert e["shape"] == [len(rows), D] and e["dtype"] == "float16" and e["n_clips"] == len(rows)
    assert e["short_clips"] == [{"row": 7, "n_real": 3}] and e["failed_clips"] == []
    for f in e["files"].values():
        assert (tmp_path / "out" / f).exists()
    # np.load works on every public file without pickles
    np.load(tmp_path / "out" / e["files"]["status"], allow_pickle=False)
    assert not (tmp_path / "out" / ".extract" / "val").exists()  # work folder removed once assembled


def test_failed_clips_are_nan_and_listed(tmp_path):
    index_path, df = _index(tmp_path, (4, 4))
    rows = df.index.to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    settings = _settings(index_path)
    store.check_settings(settings)
    w = store.open_shard("val", rows, df["path"].to_numpy(), D)
    n_real = np.array([T, T, T, T, 0, 0, 0, 0])
    ok = n_real > 0
    w.write(rows, _vectors(rows[ok]), n_real, [None] * 4 + ["cannot read video videos/v1.mp4: broken"] * 4)
    w.commit()
    assert store.finalize("val", settings, rows, df["y"], T)
    X, _, _ = load_embeddings(tmp_path / "out", "val")
    assert np.isnan(np.asarray(X[4:], dtype=np.float32)).all()
    np.testing.assert_array_equal(np.asarray(X[:4]), _vectors(rows[:4]))
    status = np.load(tmp_path / "out" / "status_val.npy")
    assert status.tolist() == [1] * 4 + [2] * 4
    e = read_manifest(tmp_path / "out")["splits"]["val"]
    assert e["n_failed"] == 4 and [f["row"] for f in e["failed_clips"]] == [4, 5, 6, 7]
    assert "videos/v1.mp4" in e["failed_clips"][0]["error"]
    stats = embedding_stats(X)
    assert stats.loc[0, "n_failed"] == 4 and stats.loc[0, "n_finite"] == 4 and not bool(stats.loc[0, "all_finite"])


def _finished_with_failures(tmp_path):
    """Split val of videos v0, v1 (failed: 'broken'), v2, finished; returns (store, settings, df)."""
    index_path, df = _index(tmp_path, (4, 3, 2))
    rows = df.index.to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    settings = _settings(index_path)
    store.check_settings(settings)
    w = store.open_shard("val", rows, df["path"].to_numpy(), D)
    n_real = np.array([T] * 4 + [0] * 3 + [T] * 2)
    w.write(rows, _vectors(rows[n_real > 0]), n_real, [None] * 4 + ["broken"] * 3 + [None] * 2)
    w.commit()
    assert store.finalize("val", settings, rows, df["y"], T)
    return store, settings, df


def test_a_retry_killed_before_the_manifest_is_taken_up_and_patches_only_its_rows(tmp_path, monkeypatch):
    store, settings, df = _finished_with_failures(tmp_path)
    rows, videos, out = df.index.to_numpy(), df["path"].to_numpy(), tmp_path / "out"
    emb0 = np.load(out / "emb_val.npy")
    assert store.open_retry("val", rows, videos, D, shard_index=0, num_shards=2) is None  # v0: nothing failed
    w = store.open_retry("val", rows, videos, D)
    assert w.pending_rows().tolist() == [4, 5, 6]
    w.write(np.array([6, 4, 5]), _vectors([6, 4]), np.array([T, 3, 0]), [None, None, "still broken"])
    w.commit()
    monkeypatch.setattr(EmbeddingStore, "_update_manifest", lambda self, change, create=False: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # killed after the arrays were replaced
        store.apply_retry("val", w, T)
    monkeypatch.undo()
    w2 = store.open_retry("val", rows, videos, D)  # the same command again takes the retry up
    assert w2.folder == w.folder and w2.pending_rows().tolist() == []
    assert store.apply_retry("val", w2, T) and not w.folder.exists()
    emb = np.load(out / "emb_val.npy")
    assert emb[[0, 1, 2, 3, 7, 8]].tobytes() == emb0[[0, 1, 2, 3, 7, 8]].tobytes()
    np.testing.assert_array_equal(emb[[4, 6]], _vectors([4, 6]))
    assert np.isnan(emb[5].astype(np.float32)).all()
    assert np.load(out / "status_val.npy").tolist() == [1] * 5 + [2] + [1] * 3
    e = read_manifest(out)["splits"]["val"]
    assert e["failed_clips"] == [{"row": 5, "error": "still broken"}] and (e["n_done"], e["n_failed"]) == (8, 1)
    assert e["short_clips"] == [{"row": 4, "n_real": 3}] and len(e["retries"]) == 1
    assert store.is_complete("val", settings, rows)
    # a new retry: the video still failed and short (rows 4-6, all of v1), no other
    w3 = store.open_retry("val", rows, videos, D)
    assert w3.pending_rows().tolist() == [4, 5, 6]


def test_a_row_another_retry_embedded_meanwhile_stays_as_it_is(tmp_path):
    store, _, df = _finished_with_failures(tmp_path)
    rows, videos, out = df.index.to_numpy(), df["path"].to_numpy(), tmp_path / "out"
    one = store.open_retry("val", rows, videos, D)  # notebook 02
    two = store.open_retry("val", rows, videos, D, shard_index=1, num_shards=2)  # a shard, at the same time
    assert one.folder != two.folder and one.pending_rows().tolist() == two.pending_rows().tolist() == [4, 5, 6]
    one.write(np.array([4, 5, 6]), _vectors([4, 5, 6]), np.full(3, T))
    two.write(np.array([4, 5, 6]), None, np.zeros(3), ["gone again"] * 3)
    one.commit()
    two.commit()
    assert store.apply_retry("val", one, T) and store.apply_retry("val", two, T)
    np.testing.assert_array_equal(np.load(out / "emb_val.npy")[4:7], _vectors([4, 5, 6]))
    e = read_manifest(out)["splits"]["val"]
    # the second changed nothing
    assert e["n_failed"] == 0 and e["failed_clips"] == [] and [r["n_clips"] for r in e["retries"]] == [3]


def test_requeue_failed_puts_failed_rows_back_to_pending_without_their_reasons(tmp_path):
    index_path, df = _index(tmp_path, (2, 2))
    rows = df.index.to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    store.check_settings(_settings(index_path))
    w = store.open_shard("val", rows, df["path"].to_numpy(), D, shard_index=0, num_shards=1)
    w.write(rows[:3], _vectors(rows[:1]), np.array([T, 0, 0]), [None, "gone", "gone"])
    w.commit()
    assert w.errors() == {1: "gone", 2: "gone"} and w.pending_rows().tolist() == [3]
    assert w.requeue_failed() == 2 and w.requeue_failed() == 0
    assert w.pending_rows().tolist() == [1, 2, 3] and w.errors() == {}
    assert w.status.tolist() == [1, 0, 0, 0]


def test_two_shards_assemble_the_same_arrays_as_one(tmp_path):
    index_path, df = _index(tmp_path, (5, 3, 4, 2))
    rows, videos = df.index.to_numpy(), df["path"].to_numpy()
    settings = _settings(index_path)
    outs = {}
    for n in (1, 2):
        store = EmbeddingStore(tmp_path / f"out{n}")
        store.check_settings(settings)
        writers = [store.open_shard("val", rows, videos, D, shard_index=k, num_shards=n) for k in range(n)]
        assert sorted(np.concatenate([w.rows for w in writers]).tolist()) == rows.tolist()
        for w in writers:
            assert not store.finalize("val", settings, rows, df["y"], T)
            w.write(w.rows[::-1], _vectors(w.rows[::-1]), np.full(len(w.rows), T))
            w.commit()
        assert store.finalize("val", settings, rows, df["y"], T)
        outs[n] = {f: np.load(tmp_path / f"out{n}" / f"{f}_val.npy") for f in ("emb", "y", "rows", "status")}
    for f in outs[1]:
        np.testing.assert_array_equal(outs[1][f], outs[2][f])
    e = read_manifest(tmp_path / "out2")["splits"]["val"]
    assert e["num_shards"] == 2 and len(e["shards"]) == 2


def test_resume_reopens_pending_rows_only(tmp_path):
    index_path, df = _index(tmp_path)
    rows = df.index.to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    store.check_settings(_settings(index_path))
    w = store.open_shard("val", rows, df["path"].to_numpy(), D)
    w.write(rows[:5], _vectors(rows[:5]), np.full(5, T))
    w.commit()
    w2 = store.open_shard("val", rows, df["path"].to_numpy(), D)  # a new process would do this
    assert w2.pending_rows().tolist() == rows[5:].tolist()
    w3 = store.open_shard("val", rows, df["path"].to_numpy(), D, resume=False)
    assert w3.pending_rows().tolist() == rows.tolist()


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("revision", "sha256:def", "revision"),
        ("T", 16, "T: 8 before, 16 now"),
        ("preprocessing", {"resize": "shortest_edge", "size": 64, "mean": [0.5] * 3, "std": [0.2] * 3}, "resize"),
        ("index_sha256", "0" * 64, "index file differs"),
    ],
)
def test_mismatched_settings_stop_with_the_difference(tmp_path, key, value, needle):
    index_path, df = _index(tmp_path)
    rows = df.index.to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    settings = _settings(index_path)
    store.check_settings(settings)
    _write_whole_split(store, df)
    assert store.finalize("val", settings, rows, df["y"], T)
    other = _settings(index_path, **{key: value})
    with pytest.raises(ExtractMismatchError, match=needle):
        store.check_settings(other)
    assert (tmp_path / "out" / "emb_val.npy").exists()  # nothing was touched
    store.check_settings(other, resume=False)  # asked to start over: old outputs go
    assert not (tmp_path / "out" / "emb_val.npy").exists()
    assert not (tmp_path / "out" / "manifest.json").exists()
    store.check_settings(other)  # and the new settings are recorded


def test_split_rows_or_sharding_change_is_refused(tmp_path):
    index_path, df = _index(tmp_path)
    rows, videos = df.index.to_numpy(), df["path"].to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    store.check_settings(_settings(index_path))
    store.open_shard("val", rows, videos, D, num_shards=2)
    with pytest.raises(ExtractMismatchError, match="num_shards: 2 before, 1 now"):
        store.open_shard("val", rows, videos, D, num_shards=1)
    with pytest.raises(ExtractMismatchError, match="limit: None before, 5 now"):
        store.open_shard("val", rows[:5], videos[:5], D, num_shards=2, limit=5)
    store.open_shard("val", rows[:5], videos[:5], D, limit=5, resume=False)


def test_load_embeddings_refuses_unfinished_split_and_wrong_index(tmp_path):
    index_path, df = _index(tmp_path)
    rows = df.index.to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    settings = _settings(index_path)
    store.check_settings(settings)
    with pytest.raises(FileNotFoundError, match="manifest.json not found"):
        load_embeddings(tmp_path / "out", "val")
    _write_whole_split(store, df)
    store.finalize("val", settings, rows, df["y"], T)
    with pytest.raises(ValueError, match="split 'test' is not finished"):
        load_embeddings(tmp_path / "out", "test")
    index_path.write_text(index_path.read_text().replace("Normal", "Nrmal"))
    with pytest.raises(ValueError, match="not the one the embeddings were extracted from"):
        load_embeddings(tmp_path / "out", "val")


def test_concurrent_manifest_updates_are_not_lost(tmp_path):
    index_path, df = _index(tmp_path)
    store = EmbeddingStore(tmp_path / "out")
    store.check_settings(_settings(index_path))
    store._update_manifest(lambda m: m.setdefault("splits", {}), create=True)

    def add(i):
        store._update_manifest(lambda m: m["splits"].__setitem__(f"s{i}", {"i": i}))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(read_manifest(tmp_path / "out")["splits"]) == sorted(f"s{i}" for i in range(12))
    assert not list((tmp_path / "out").glob(".manifest.json*"))  # no temp or lock file left behind


def test_a_live_lock_is_never_broken(tmp_path):
    from ucf_nb.files import _break_stale_lock

    lock = tmp_path / "x.lock"
    live = f"{socket.gethostname()} {os.getpid()}"
    lock.write_text(live)
    # a waiter that judged it stale a moment too early moves it aside, sees it is live, puts it back
    _break_stale_lock(lock, stale_after=900)
    assert lock.read_text() == live and [p.name for p in tmp_path.iterdir()] == ["x.lock"]
    with pytest.raises(TimeoutError, match="held by another process"), file_lock(lock, timeout=0.3):
        pass


@pytest.mark.slow
def test_lock_left_by_a_killed_process_is_broken(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    lock = tmp_path / "x.lock"
    lock.write_text(f"{socket.gethostname()} {dead}")
    with file_lock(lock, timeout=2):
        assert lock.read_text().split()[1] == str(os.getpid())
    assert not lock.exists()


def test_embedding_stats_match_numpy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)).astype(np.float16)
    X[3] = np.nan
    y = np.array([0] * 20 + [1] * 30, dtype=np.int8)
    s = embedding_stats(X, y, chunk=7).iloc[0]
    good = np.delete(X, 3, axis=0).astype(np.float64)
    # a failed (NaN) row is counted, and the split is never called all finite (issue 10)
    assert s["n_clips"] == 50 and s["n_failed"] == 1 and s["n_embedded"] == 49 and s["n_finite"] == 49
    assert not bool(s["all_finite"])
    assert bool(embedding_stats(np.delete(X, 3, axis=0)).iloc[0]["all_finite"])
    assert s["mean"] == pytest.approx(good.mean()) and s["std"] == pytest.approx(good.std())
    assert s["min"] == good.min() and s["max"] == good.max()
    assert s["n_y=0"] == 20 and s["n_y=1"] == 30
    X[5, 2] = np.inf
    s2 = embedding_stats(X).iloc[0]
    assert not bool(s2["all_finite"]) and s2["n_finite"] == 48 and s2["n_embedded"] == 49


def test_manifest_is_json_with_the_promised_fields(tmp_path):
    index_path, df = _index(tmp_path)
    rows = df.index.to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    settings = _settings(index_path)
    store.check_settings(settings)
    w = _write_whole_split(store, df)
    w.add_time(2.0, len(rows), device="cpu")
    store.finalize("val", settings, rows, df["y"], T)
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    for key in (
        "created_at",
        "model",
        "T",
        "img_size",
        "embedding_dim",
        "pooling",
        "precision",
        "preprocessing",
        "index",
        "versions",
        "splits",
    ):
        assert key in m
    assert m["model"] == {"checkpoint": "enc", "revision": "sha256:abc", "model_type": "timesformer"}
    assert m["index"]["sha256"] == settings["index_sha256"]
    e = m["splits"]["val"]
    assert e["seconds"] == 2.0 and e["clips_per_s"] == pytest.approx(len(rows) / 2.0)


def test_a_shard_refuses_rows_it_does_not_own(tmp_path):
    index_path, df = _index(tmp_path, (5, 3, 4, 2))
    rows, videos = df.index.to_numpy(), df["path"].to_numpy()
    store = EmbeddingStore(tmp_path / "out")
    store.check_settings(_settings(index_path))
    w0 = store.open_shard("val", rows, videos, D, shard_index=0, num_shards=2)
    w1 = store.open_shard("val", rows, videos, D, shard_index=1, num_shards=2)
    with pytest.raises(ValueError, match=f"index row {w1.rows[0]} does not belong to this shard"):
        w0.write(w1.rows[:1], _vectors(w1.rows[:1]), [T])
    with pytest.raises(ValueError, match="expected \\(1, 8\\)"):
        w0.write(w0.rows[:1], _vectors(w0.rows[:2]), [T])
    assert w0.pending_rows().tolist() == w0.rows.tolist()  # nothing was marked
