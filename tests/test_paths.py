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
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
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


def test_demo_hint_names_the_demos_copy(tmp_path, monkeypatch):
    from ucf_nb.paths import demo_hint

    monkeypatch.setenv("UCF_NB_ROOT", str(tmp_path))
    assert demo_hint("processed/index_clips.csv", "index_path") == ""
    (tmp_path / "demo" / "processed").mkdir(parents=True)
    (tmp_path / "demo" / "processed" / "index_clips.csv").write_text("x")
    assert (
        demo_hint("processed/index_clips.csv", "index_path")
        == " (after `make demo`, the demo's is index_path='demo/processed/index_clips.csv')"
    )
    assert demo_hint("processed/manifest.json", "out_dir", folder=True) == ""
    (tmp_path / "demo" / "processed" / "manifest.json").write_text("{}")
    assert (
        demo_hint(tmp_path / "processed/manifest.json", "out_dir", folder=True)
        == " (after `make demo`, the demo's is out_dir='demo/processed')"
    )
    assert demo_hint("demo/processed/absent.csv", "index_path") == ""
