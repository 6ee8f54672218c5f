import subprocess
import sys
from pathlib import Path

import pytest

from ucf_nb import display_path, project_root, resolve_path

REPO = Path(__file__).resolve().parent.parent


def test_project_root_is_the_checkout():
    assert project_root() == REPO


@pytest.mark.slow
def test_relative_paths_resolve_against_root_from_any_cwd(tmp_path):
    code = "import ucf_nb; print(ucf_nb.resolve_path('processed/index_clips.csv'))"
    for cwd in (REPO, REPO / "notebooks", tmp_path):
        out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == str(REPO / "processed" / "index_clips.csv")


def test_absolute_paths_stay_absolute(tmp_path):
    assert resolve_path(tmp_path / "x.csv") == tmp_path / "x.csv"


def test_env_var_overrides_root(tmp_path, monkeypatch):
    monkeypatch.setenv("UCF_NB_ROOT", str(tmp_path))
    assert resolve_path("a/b") == tmp_path / "a" / "b"


def test_display_path_hides_the_machine(tmp_path, monkeypatch):
    assert display_path(REPO / "demo" / "x.csv") == "demo/x.csv"
    assert display_path(tmp_path / "y") == str(tmp_path / "y")
    # a relative path is project-relative, whatever the working directory (notebooks/ here)
    monkeypatch.chdir(REPO / "notebooks")
    assert display_path("data/UCF_Crime/x.mp4") == "data/UCF_Crime/x.mp4"

