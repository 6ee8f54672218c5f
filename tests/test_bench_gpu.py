"""benchmarks/bench_gpu.py cannot rot: its smoke run (tiny model, CPU) runs here, without PyAV,
papermill or matplotlib importable, as on the GPU machine's image."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_gpu.py"
BLOCKED = ("av", "papermill", "matplotlib")


def _load_script():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_imports_without_pyav_papermill_or_matplotlib(monkeypatch, tmp_path):
    for name in BLOCKED:
        monkeypatch.setitem(sys.modules, name, None)  # `import av` now raises ImportError
    bench = _load_script()
    with pytest.raises(SystemExit, match="no .mp4 videos in .*--make-videos"):
        bench._videos_in(tmp_path)


def test_readme_block_is_replaced_in_place(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_machine", ROOT / "benchmarks" / "machine.py")
    machine = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(machine)
    readme = tmp_path / "README.md"
    begin, end = "<!-- gpu:begin -->", "<!-- gpu:end -->"
    readme.write_text(f"# B\n\n## gpu\n\n{begin}\nold\n{end}\n\n## next\n")
    machine.write_readme_block("gpu", "new table", readme)
    assert readme.read_text() == f"# B\n\n## gpu\n\n{begin}\nnew table\n{end}\n\n## next\n"
    machine.write_readme_block("extract", "t", readme)  # absent: appended as its own part
    assert readme.read_text().endswith("## next\n\n## extract\n\n<!-- extract:begin -->\nt\n<!-- extract:end -->\n")


@pytest.mark.slow
def test_smoke_run_end_to_end(tmp_path):
    import av

    bench = _load_script()
    videos = bench.make_videos(tmp_path / "videos", minutes=20 / 60, seconds_each=10)
    assert len(videos) == 2
    with av.open(str(videos[0])) as c:  # UCF-Crime-shaped: 320x240 H.264, 30 fps, keyframes at 0 and 250
        s = c.streams.video[0]
        assert (s.codec_context.name, s.width, s.height, s.average_rate) == ("h264", 320, 240, 30)
        keys = [i for i, f in enumerate(c.decode(s)) if f.key_frame]
    assert keys == [0, 250]
    out = tmp_path / "table.md"
    argv = ["--smoke", "--videos", str(tmp_path / "videos"), "--work", str(tmp_path / "work"), "--out", str(out)]
    code = (
        "import runpy, sys\n"
        f"for m in {BLOCKED!r}: sys.modules[m] = None\n"
        f"sys.argv = [{str(SCRIPT)!r}] + {argv!r}\n"
        f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    table = out.read_text()
    rows = {
        line.split("|")[1].strip()[:3]: [c.strip() for c in line.split("|")[1:-1]]
        for line in table.splitlines()
        if line.startswith("| (")
    }
    assert set(rows) == {"(a)", "(b)", "(c)", "(d)"}
    # attention, precision, compile as each pipeline really ran
    assert rows["(a)"][1:4] == ["eager", "fp32", "False"]
    assert rows["(b)"][1] == "eager" and rows["(c)"][1] == "sdpa" and rows["(d)"][1:4:2] == ["sdpa", "True"]
    for key, cells in rows.items():
        assert int(cells[6]) > 0 and float(cells[8]) > 0, (key, cells)  # clips done, clips/s end to end
    assert "clips per CPU-second" in table and "no GPU (CPU run)" in table
