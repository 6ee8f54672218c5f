"""The README's commands run as written, on a fresh copy of the project, with the demo tree
standing in for ``/data/UCF_Crime``.

Every ```bash block of README.md that holds a ``papermill`` or ``python -m ucf_nb.report`` line
is run in order (with its ``mkdir`` lines), command by command, from the root of a copy of the
project's tracked files (a fresh clone: no ``out/``, no ``processed/``). The substitutions are the
ones a reader with the demo makes: the demo's dataset folder for ``/data/UCF_Crime``, and for
extraction the demo encoder on the CPU (the README's default checkpoint needs the network).
A block whose first line is a comment starting ``# needs`` (``# needs SLURM``, ``# needs
several GPUs``) is skipped: this machine cannot run it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ucf_nb.paths import project_root, resolve_path

README = project_root() / "README.md"
DATASET = "/data/UCF_Crime"
RUN_PREFIXES = ("papermill ", "python -m ucf_nb.report ", "mkdir ")
# What a reader with the demo adds for extraction: the demo encoder, on the CPU, as `make demo`.
DEMO_EXTRACTION = dict(device="cpu", precision="fp32", pooling="mean", num_workers=0, batch_size=8)


def bash_blocks(markdown: str) -> list[list[str]]:
    """The ```bash blocks of ``markdown``, each as its lines."""
    return [block.splitlines() for block in re.findall(r"^```bash\n(.*?)^```", markdown, re.M | re.S)]


def commands(lines: list[str]) -> list[str]:
    """The block's commands: backslash continuations joined, comments and blank lines dropped."""
    out, current = [], ""
    for line in lines:
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        cmd = current.split(" #")[0].strip() if not current.lstrip().startswith("#") else ""
        current = ""
        if cmd:
            out.append(re.sub(r"\s+", " ", cmd))
    return out


def readme_runs(markdown: str) -> list[list[str]]:
    """Per runnable block, its papermill / ``python -m ucf_nb.report`` / mkdir commands."""
    runs = []
    for lines in bash_blocks(markdown):
        first = next((line.strip() for line in lines if line.strip()), "")
        if first.startswith("# needs"):
            continue
        cmds = [c for c in commands(lines) if c.startswith(RUN_PREFIXES)]
        if any(not c.startswith("mkdir ") for c in cmds):
            runs.append(cmds)
    return runs


def for_demo(cmd: str, demo: Path) -> list[str]:
    """``cmd`` as argv, with the demo's dataset and encoder in place of the real ones."""
    argv = shlex.split(cmd.replace(DATASET, str(demo / "UCF_Crime")))
    encoder = str(demo / "encoder")
    notebook = next((a for a in argv if a.endswith(".ipynb")), "")  # after papermill's own flags
    if argv[0] == "papermill" and notebook.endswith("02_extract.ipynb"):
        argv += ["-p", "checkpoint", encoder]
        for name, value in DEMO_EXTRACTION.items():
            argv += ["-p", name, str(value)]
    elif argv[0] == "papermill" and notebook.endswith("03_probe.ipynb"):
        # 03 finds the run 02 wrote by the same checkpoint, T and pooling (runs_dir/<run_name>/)
        argv += ["-p", "checkpoint", encoder, "-p", "pooling", str(DEMO_EXTRACTION["pooling"])]
    elif argv[:4] == ["python", "-m", "ucf_nb.report", "run"]:
        argv += ["-p", f"checkpoint={encoder}"]
        argv += [arg for name, value in DEMO_EXTRACTION.items() for arg in ("-p", f"{name}={value}")]
    if argv[0] == "python":
        argv[0] = sys.executable
    elif argv[0] == "papermill":
        argv[:1] = [sys.executable, "-m", "papermill"]
    return argv


def test_commands_are_read_from_the_readme_blocks():
    md = (
        "```bash\n# needs SLURM\npapermill a.ipynb b.ipynb\n```\n"
        "```bash\nmkdir -p out   # here\npapermill notebooks/02_extract.ipynb out/x.ipynb \\\n"
        "    -p split val\nmake demo\n```\n"
    )
    assert readme_runs(md) == [["mkdir -p out", "papermill notebooks/02_extract.ipynb out/x.ipynb -p split val"]]
    argv = for_demo("papermill notebooks/02_extract.ipynb out/x.ipynb -p root /data/UCF_Crime/a.txt", Path("/d"))
    assert argv[3:7] == ["notebooks/02_extract.ipynb", "out/x.ipynb", "-p", "root"]
    assert argv[7] == "/d/UCF_Crime/a.txt" and argv[8:11] == ["-p", "checkpoint", "/d/encoder"]
    argv = for_demo("papermill --engine ucf_nb notebooks/02_extract.ipynb out/x.ipynb", Path("/d"))
    assert argv[3:5] == ["--engine", "ucf_nb"] and argv[7:10] == ["-p", "checkpoint", "/d/encoder"]


def test_the_readme_has_a_real_run_to_test():
    runs = readme_runs(README.read_text())
    flat = [c for run in runs for c in run]
    assert any(c.startswith("papermill ") and "notebooks/00_build_index.ipynb" in c for c in flat)
    assert any(c.startswith("python -m ucf_nb.report run") for c in flat)
    assert any(DATASET in c for c in flat)


def _fresh_copy(dest: Path) -> Path:
    """The project's tracked files (a fresh clone), copied into ``dest``."""
    root = project_root()
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    for rel in filter(None, files):
        src = root / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.mark.slow
def test_readme_commands_run_verbatim_on_a_fresh_copy(tmp_path, demo_dir):
    if not (project_root() / ".git").exists():
        pytest.skip("not a git checkout: the fresh copy is made from `git ls-files`")
    demo = (
        resolve_path("demo")
        if (resolve_path("demo/UCF_Crime").is_dir() and resolve_path("demo/encoder").is_dir())
        else demo_dir
    )
    clone = _fresh_copy(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if k != "UCF_NB_ROOT"}
    env["PYTHONPATH"] = str(clone)  # the copy's package, so the copy is the project root
    runs = readme_runs(README.read_text())
    for run in runs:
        for cmd in run:
            argv = for_demo(cmd, demo)
            proc = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True)
            assert proc.returncode == 0, (
                f"README command failed: {cmd}\n(run as {shlex.join(argv)})\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
    for made in ("out/00.ipynb", "out/03.ipynb", "book/_build/html/index.html"):
        assert (clone / made).is_file(), f"after the README's commands, {made} is missing"
    for head in ("probe", "probe-mil"):  # 02 and 03 write into processed/runs/<run name>/
        assert list((clone / "processed" / "runs").glob(f"*/{head}/metrics.json")), (
            f"after the README's commands, no processed/runs/*/{head}/metrics.json"
        )
