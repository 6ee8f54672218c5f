"""The linear probe's memory: the fit holds the float32 training matrix once, plus little.

At UCF-Crime's size (868k clips x 768) the float32 training matrix is about 2 GB; a solver
that copies it (scikit-learn's Newton solvers form a weighted copy of X for every Hessian)
or a float16 memmap whose pages stay mapped after reading adds a whole matrix or half of one.
The fit runs here in a subprocess at a moderate size (60,000 x 256 float16 clips in a real
``.npy`` memmap, as ``load_embeddings`` opens them) and reports two peaks relative to the
float32 matrix: Python-side allocations (tracemalloc, which numpy reports its arrays to) and
the growth of the process's resident high-water mark (VmHWM) during the fit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

BOUND = 1.5  # peak of the fit / bytes of the float32 training matrix

N, NV, D = 100_000, 8_000, 192

_SCRIPT = textwrap.dedent(r"""
    import json, sys, tracemalloc
    import numpy as np
    import scipy.linalg, sklearn.linear_model  # imported before the baseline
    from ucf_nb.evaluate.linear import fit_probe

    folder = sys.argv[1]
    X = np.load(f"{folder}/train_X.npy", mmap_mode="r")
    Xv = np.load(f"{folder}/val_X.npy", mmap_mode="r")
    y, yv = np.load(f"{folder}/train_y.npy"), np.load(f"{folder}/val_y.npy")

    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    base = hwm()  # the imports' peak: nothing big was allocated before the fit
    tracemalloc.start()
    probe = fit_probe(X, y, X_val=Xv, y_val=yv, grid_n_train=5_000)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    matrix = probe.settings["n_train"] * X.shape[1] * 4
    print(json.dumps({"traced": traced / matrix, "rss": (hwm() - base) / matrix,
                      "converged": probe.settings["converged"], "n_train": probe.settings["n_train"]}))
""")


def _write_clips(folder, name: str, m: int, w: np.ndarray, rng: np.random.Generator) -> None:
    X = rng.standard_normal((m, D), dtype=np.float32)
    y = (X @ w + rng.standard_normal(m, dtype=np.float32) > 1.0).astype(np.int8)
    X[: m // 4] += 0.05 * np.arange(D, dtype=np.float32)  # uneven columns: standardising matters
    X[7] = np.nan  # a failed clip
    np.save(folder / f"{name}_X.npy", X.astype(np.float16))
    np.save(folder / f"{name}_y.npy", y)


def test_fit_probe_peak_memory_is_at_most_one_and_a_half_training_matrices(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(D).astype(np.float32)
    _write_clips(tmp_path, "train", N, w, rng)
    _write_clips(tmp_path, "val", NV, w, rng)
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["n_train"] == N - 1 and got["converged"]
    assert got["traced"] <= BOUND, f"fit_probe allocated {got['traced']:.2f}x the float32 training matrix"
    assert got["rss"] <= BOUND, f"fit_probe's resident memory grew by {got['rss']:.2f}x the training matrix"
