"""Watch it run: progress on the documented papermill path, throttled text bars in kernels, the
seek scan's own bar and time, the MIL head's bar, no unencrypted-kernel warning."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from ucf_nb import progress
from ucf_nb.paths import project_root

S = 64


def _index_with_a_seek(folder: Path) -> Path:
    """test_extract's index, whose val video Arson001 starts at its second clip (frame 16):
    its first clip needs a seek, so the stream scans its timestamps (seek_is_exact)."""
    from test_extract import VIDEOS, _write_index

    index = _write_index(folder, [v for v in VIDEOS if v[0] in ("train", "val")])
    df = pd.read_csv(index)
    df = df[~((df["video"] == "Arson001_x264.mp4") & (df["clip_idx"] == 0))]
    df.to_csv(index, index=False)
    return index


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from ucf_nb.demo import make_demo_encoder

    folder = tmp_path_factory.mktemp("watch")
    index = _index_with_a_seek(folder)
    return {"folder": folder, "index": index, "encoder": make_demo_encoder(folder / "encoder", img_size=S)}


# ---------------------------------------------------------------- which bar, how often


def _fake_kernel(monkeypatch, allow_stdin: bool) -> None:
    """A Jupyter kernel (as ucf_nb.progress sees it) handling a request with ``allow_stdin``."""
    parent = {"content": {"allow_stdin": allow_stdin}}
    kernel = types.SimpleNamespace(get_parent=lambda channel=None: parent)
    shell = type("ZMQInteractiveShell", (), {"kernel": kernel})()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)


@pytest.mark.skipif(not progress._widgets_available(), reason="ipywidgets is not installed")
def test_a_kernel_run_by_papermill_gets_the_text_bar_a_person_the_widget(monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    _fake_kernel(monkeypatch, allow_stdin=False)  # nbclient (papermill, nbconvert), nbval
    assert progress._in_kernel() and progress._kind() == "text"
    _fake_kernel(monkeypatch, allow_stdin=True)  # Jupyter Lab, Notebook, VS Code
    assert progress._kind() == "widget"
    monkeypatch.setenv(progress.PROGRESS_ENV, "text")
    assert progress._kind() == "text"


def test_a_text_bar_in_a_kernel_is_redrawn_a_handful_of_times(monkeypatch):
    import tqdm.std

    clock = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: clock[0])
    monkeypatch.setenv(progress.PROGRESS_ENV, "text")
    _fake_kernel(monkeypatch, allow_stdin=False)
    out = io.StringIO()
    n = 5000
    with progress.progress_bar(total=n, desc="train", unit="clips", file=out) as bar:
        for _ in range(n):
            clock[0] += 0.5  # half a second per clip: a redraw per update without the throttle
            bar.update(1)
    text = out.getvalue()
    assert 2 <= text.count("\r") <= progress.KERNEL_STEPS + 2, text.count("\r")
    assert text.rstrip().endswith("]") and f"{n}/{n}" in text.split("\r")[-1]
    # outside a kernel: tqdm's live bar, unchanged
    monkeypatch.setattr("IPython.get_ipython", lambda: None)
    out = io.StringIO()
    with progress.progress_bar(total=50, file=out) as bar:
        for _ in range(50):
            clock[0] += 0.5
            bar.update(1)
    assert out.getvalue().count("\r") > 40


# ---------------------------------------------------------------- the seek scan


def test_the_seek_scan_has_its_own_bar_and_counts_in_the_run_time(data, tmp_path):
    """In a process of its own, stderr captured as a terminal's: both bars reach it (nothing
    holds fd 2 away from the bars), and the scan's time is in the manifest's."""
    out = tmp_path / "out"
    code = (
        "import time\nimport ucf_nb.video.dataset as d\nreal = d._exact_numbering\n"
        "def slow(path, needs_seek):\n    time.sleep(1.0)\n    return real(path, needs_seek)\n"
        "d._exact_numbering = slow\nfrom ucf_nb import extract_split\n"
        f"r = extract_split('val', {str(data['index'])!r}, out_dir={str(out)!r}, "
        f"checkpoint={str(data['encoder'])!r}, img_size={S}, preprocessing='seed', num_workers=0, "
        "batch_size=2, precision='fp32')\nprint(r['seconds'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != progress.PROGRESS_ENV}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stderr.replace("\r", "\n").splitlines()
    assert any(re.match(r"val seek scan: 100%.* (\d+)/\1 ", line) for line in lines), proc.stderr[-2000:]
    assert any(re.match(r"val: 100%.* 6/6 ", line) for line in lines), proc.stderr[-2000:]
    assert float(proc.stdout.split()[-1]) >= 2.0
    manifest = json.loads((out / "manifest.json").read_text())
    seconds = [v for k, v in _walk(manifest) if k == "seconds"]
    assert seconds and all(s >= 2.0 for s in seconds), seconds


def _walk(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


# ---------------------------------------------------------------- the MIL head


def test_the_mil_head_of_run_probe_shows_its_progress(tmp_path, capfd):
    from test_probe import _write_store

    from ucf_nb import run_probe

    out, ann, _ = _write_store(tmp_path)
    run_probe(
        out,
        annotation_path=ann,
        seed=0,
        head="mil",
        n_boot=10,
        mil_params=dict(max_iter=40, eval_every=20, patience=2, hidden=(16, 8)),
    )
    err = capfd.readouterr().err
    assert "MIL head (train, early stopping on val)" in err and "MIL head (refit" in err, err[-2000:]


# ---------------------------------------------------------------- the README's papermill line


def _readme_flags(notebook: str) -> list[str]:
    """The flags the README's real-run lines give papermill before ``notebook``."""
    from test_readme import readme_runs

    lines = [
        c
        for run in readme_runs((project_root() / "README.md").read_text())
        for c in run
        if c.startswith("papermill ") and notebook in c
    ]
    assert lines, f"the README has no papermill line for {notebook}"
    argv = shlex.split(lines[0])
    return argv[1 : argv.index(next(a for a in argv if a.endswith(notebook)))]


@pytest.mark.slow
def test_the_readme_papermill_line_shows_progress_in_the_terminal_and_the_notebook(data, tmp_path):
    """What a person sees running the README's line: the bars on the terminal (papermill's
    stderr), no "running over TCP without encryption", and a saved notebook whose bar ends at
    N/N after a handful of redraws (no frozen widget)."""
    flags = _readme_flags("02_extract.ipynb")
    nb_out = tmp_path / "02_val.ipynb"
    argv = [
        sys.executable,
        "-m",
        "papermill",
        *flags,
        str(project_root() / "notebooks" / "02_extract.ipynb"),
        str(nb_out),
        "-p",
        "split",
        "val",
        "-p",
        "index_path",
        str(data["index"]),
        "-p",
        "out_dir",
        str(tmp_path / "out"),
        "-p",
        "checkpoint",
        str(data["encoder"]),
        "-p",
        "img_size",
        str(S),
        "-p",
        "preprocessing",
        "seed",
        "-p",
        "num_workers",
        "0",
        "-p",
        "batch_size",
        "1",
        "-p",
        "device",
        "cpu",
        "-p",
        "precision",
        "fp32",
    ]
    env = {k: v for k, v in os.environ.items() if k != progress.PROGRESS_ENV}  # as a person's shell
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=400, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "without encryption" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    terminal = proc.stderr.replace("\r", "\n")
    assert re.search(r"^val: 100%.* 6/6 ", terminal, re.M), proc.stderr[-3000:]
    assert re.search(r"^val seek scan: 100%.* (\d+)/\1 ", terminal, re.M), proc.stderr[-3000:]
    nb = nbformat.read(nb_out, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "extract_split(" in c.source)
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs)
    bar = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")
    last = [seg for seg in bar.replace("\n", "\r").split("\r") if seg.strip()]
    assert last and re.match(r"val: 100%.* 6/6 ", last[-1]), bar[-1000:]
    assert bar.count("\r") <= 2 * (progress.KERNEL_STEPS + 2), bar.count("\r")


@pytest.mark.skipif(not progress._widgets_available(), reason="ipywidgets is not installed")
def test_a_real_kernel_chooses_by_the_request_allow_stdin(monkeypatch):
    """In a real ipykernel: a request that allows stdin (Jupyter Lab) gets the widget, one that
    does not (nbclient: papermill, nbconvert; nbval) the text bar."""
    from jupyter_client.manager import start_new_kernel

    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    km, kc = start_new_kernel(
        kernel_name="python3", env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}, extra_arguments=[]
    )
    try:
        seen = {}
        for allow in (False, True):
            out = []
            kc.execute_interactive(
                "from ucf_nb import progress; print(progress._kind())",
                allow_stdin=allow,
                timeout=60,
                stdin_hook=lambda msg: None,
                output_hook=lambda msg: out.append(msg["content"].get("text", "")),  # noqa: B023 (called at once)
            )
            seen[allow] = "".join(out).strip()
        assert seen == {False: "text", True: "widget"}, seen
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
