"""The run report: executed notebooks cleaned for reading, the intro page, the book build."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import golden_tools
import nbformat
import numpy as np
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ucf_nb.index.annotations import SPLITS
from ucf_nb.paths import project_root, resolve_path
from ucf_nb.report import book as report
from ucf_nb.report import pipeline

BOOK = resolve_path("book")


def _manifest(**splits):
    return {
        "model": {"checkpoint": "demo/encoder", "revision": None, "model_type": "timesformer"},
        "T": 8,
        "img_size": 224,
        "embedding_dim": 64,
        "pooling": "cls",
        "precision": "fp32",
        "preprocessing": {"kind": "checkpoint", "mean": [0.45, 0.45, 0.45]},
        "index": {"path": "demo/processed/index_clips.csv", "sha256": "ab" * 32},
        "splits": {
            name: {
                "n_clips": n,
                "n_done": n - 1,
                "n_failed": 1,
                "seconds": 2.5,
                "clips_per_s": n / 2.5,
                "shards": [{"device": "cpu"}],
            }
            for name, n in splits.items()
        },
    }


METRICS = {
    "clip_auc_val": 0.61234,
    "clip_auc_test": 0.5,
    "clip_ap_val": 0.4,
    "clip_ap_test": 0.45,
    "video_auc_test": 0.75,
    "frame_auc_test": 0.66,
    "frame_auc_test_anomalous": float("nan"),
    "per_category_auc_test": {"Abuse": 0.5},
    "seed": 0,
    "C": 1.0,
}


# --- the intro page ---------------------------------------------------------------------------


def test_intro_says_what_was_run():
    text = report.write_intro(
        _manifest(val=10, train=40, test=20),
        METRICS,
        dataset_root="demo/UCF_Crime",
        index_parameters={"clip_len": 32, "stride": 16},
        versions={"torch": "9.9.9"},
    )
    assert text.startswith("# ")
    for shown in (
        "`demo/UCF_Crime`",
        "`demo/processed/index_clips.csv`",
        "ab" * 32,
        "`demo/encoder`",
        "timesformer",
        "clip_len=32, stride=16",
        "fp32",
        "kind=checkpoint",
        "| torch | 9.9.9 |",
        "| Clip ROC AUC, val | 0.612 |",
        "| Video ROC AUC, test | 0.750 |",
        "| `seed` | 0 |",
        "| `C` | 1 |",
        "| Frame ROC AUC, test, every frame | 0.660 |",
    ):
        assert shown in text, shown
    # NaN metrics are not numbers a reader should compare: they say so.
    assert "| Frame ROC AUC, test, anomalous videos only | n/a |" in text
    # Splits in run order with counts, time and rate.
    rows = [line for line in text.splitlines() if re.match(r"\| (train|val|test) \|", line)]
    assert [r.split("|")[1].strip() for r in rows] == ["train", "val", "test"]
    assert rows[0] == "| train | 40 | 39 | 1 | cpu | 2.5 | 16.0 |"
    assert report.DEMO_NOTE not in text


def test_intro_of_a_demo_says_the_numbers_mean_nothing():
    text = report.write_intro(_manifest(train=4), None, demo=True)
    assert "random tiny encoder on synthetic videos" in text
    assert text.index("random tiny encoder") < text.index("## What was run")
    assert "The probe has not run" in text


def test_intro_keeps_the_probe_settings_apart_from_its_metrics():
    metrics = {
        **METRICS,
        "video_auc_val": 1.0,
        "video_auc_test_mean": 0.25,
        "C_note": None,
        "C_grid": [0.01, 1.0],
        "max_train": None,
        "class_weight": "balanced",
    }
    text = report.write_intro(_manifest(train=3), metrics)
    metrics_part, settings_part = text.split("## Probe")[1].split("How the linear probe was fitted:")
    # every metric in the metrics table, none among the settings, which come after the metrics
    assert "| Clip ROC AUC, val | 0.612 |" in metrics_part
    for shown in ("| `class_weight` | balanced |", "| `seed` | 0 |"):
        assert shown in settings_part, shown
    assert "auc" not in settings_part.lower()
    # None is not a setting: left out
    assert "C_note" not in text and "max_train" not in text and "None" not in text


def test_intro_is_pure_and_rejects_a_path_for_a_manifest():
    m = _manifest(train=3)
    before = json.dumps(m, sort_keys=True)
    assert report.write_intro(m, METRICS) == report.write_intro(m, METRICS)
    assert json.dumps(m, sort_keys=True) == before
    with pytest.raises(TypeError, match="manifest must be a mapping"):
        report.write_intro("processed/manifest.json", METRICS)


def test_intro_is_valid_myst_table_markup():
    text = report.write_intro(_manifest(train=3), {"clip_auc_val": 0.5, "note": "a|b"})
    for line in text.splitlines():
        if line.startswith("|"):
            # every row of a table has as many cells as its header
            assert line.count("|") - line.count("\\|") in (3, 8), line


# --- which notebooks run, with which parameters -----------------------------------------------


def test_pipeline_runs_every_notebook_in_order_and_02_once_per_split():
    steps = pipeline.pipeline_steps(pipeline.demo_parameters("demo"))
    assert [s.name for s in steps] == [
        "00_build_index",
        "01_index_checks",
        "02_extract_train",
        "02_extract_val",
        "02_extract_test",
        "03_probe",
        "04_compare",
    ]
    assert [s.parameters["split"] for s in steps if s.notebook == "02_extract"] == ["train", "val", "test"]
    # every notebook reads what the one before wrote
    index = steps[0].parameters["index_path"]
    assert all(s.parameters["index_path"] == index for s in steps[1:5])
    assert (
        steps[2].parameters["runs_dir"]
        == steps[5].parameters["runs_dir"]
        == steps[6].parameters["runs_dir"]
        == "demo/processed/runs"
    )
    assert steps[2].parameters["run_name"] == steps[5].parameters["run_name"] == "timesformer_T8_mean"
    assert pipeline.main_run_dir(steps) == "demo/processed/runs/timesformer_T8_mean"


def test_demo_extra_runs_are_other_families_on_the_same_index():
    extra = pipeline.demo_extra_runs("demo")
    params = pipeline.demo_parameters("demo")
    assert [e["checkpoint"] for e in extra] == ["demo/encoders/videomae", "demo/encoders/clip"]
    for e in extra:
        assert e["index_path"] == params["02_extract"]["index_path"] and e["T"] == params["02_extract"]["T"]
        assert e["runs_dir"] == params["04_compare"]["runs_dir"]


def test_demo_parameters_are_project_relative_even_when_given_absolute():
    params = pipeline.demo_parameters(project_root() / "demo", out_dir=project_root() / "build" / "x")
    values = [v for p in params.values() for v in p.values() if isinstance(v, str)]
    assert not [v for v in values if os.path.isabs(v)]
    assert params["02_extract"]["runs_dir"] == params["03_probe"]["runs_dir"] == "build/x/runs"
    assert params["00_build_index"]["dataset_root"] == "demo/UCF_Crime"
    # pinned for determinism: same device and precision on every machine
    assert params["02_extract"]["device"] == "cpu" and params["02_extract"]["precision"] == "fp32"


def test_overrides_reach_every_notebook_that_declares_the_parameter():
    steps = pipeline.apply_overrides(
        pipeline.pipeline_steps(pipeline.demo_parameters("demo")),
        {"device": "cuda", "seed": 3},
        resolve_path("notebooks"),
    )
    by_name = {s.name: s.parameters for s in steps}
    assert [by_name[f"02_extract_{x}"]["device"] for x in SPLITS] == ["cuda"] * 3
    assert "device" not in by_name["00_build_index"] and by_name["00_build_index"]["seed"] == 3
    assert by_name["03_probe"]["seed"] == 3 and by_name["02_extract_val"]["split"] == "val"
    with pytest.raises(ValueError, match="no notebook .* has a parameter of that name"):
        pipeline.apply_overrides(steps, {"devcie": "cuda"}, resolve_path("notebooks"))
    with pytest.raises(ValueError, match="once per split"):
        pipeline.apply_overrides(steps, {"split": "val"}, resolve_path("notebooks"))


def test_a_renamed_parameter_reaches_only_the_notebook_that_still_takes_it():
    steps = report.apply_overrides(
        report.pipeline_steps(),
        {"num_workers": 2, "annotation_file": "a.txt", "probe_threads": 1},
        resolve_path("notebooks"),
    )
    by_name = {s.name: s.parameters for s in steps}
    # num_workers is the DataLoader's (02); 00's old name for probe_threads is not given it
    assert by_name["02_extract_train"]["num_workers"] == 2 and "num_workers" not in by_name["00_build_index"]
    assert by_name["00_build_index"] == {"annotation_file": "a.txt", "probe_threads": 1}
    assert "annotation_file" not in by_name["03_probe"]


def test_prepare_writes_parameterised_notebooks_without_running_them(tmp_path):
    steps = report.pipeline_steps(report.demo_parameters("demo"))
    files = report.prepare_notebooks(steps, tmp_path / "prepared")
    assert [f.name for f in files] == [f"{s.name}.ipynb" for s in steps]
    nb = nbformat.read(tmp_path / "prepared" / "02_extract_val.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    for line in ('split = "val"', 'checkpoint = "demo/encoder"', 'index_path = "demo/processed/index_clips.csv"'):
        assert line in injected[0].source, line
    assert all(
        c.get("outputs", []) == [] and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"
    )
    assert report.main(["prepare", "--demo", "demo", "--dest", str(tmp_path / "cli")]) == 0
    assert len(list((tmp_path / "cli").glob("*.ipynb"))) == len(steps)


@pytest.mark.slow
def test_a_prepared_notebook_runs_under_nbconvert_and_saves_a_finished_bar(tmp_path, demo_dir):
    """The newcomer's path: prepare, then execute it as Jupyter's tools do (nbconvert --execute):
    it runs top to bottom and the saved notebook keeps a finished text bar (N/N), never a widget
    frozen at its first state; tqdm does not warn. (Jupyter Lab itself, whose requests allow
    stdin, gets the widget: tests/test_watch_run.py's real-kernel test.)"""
    import subprocess
    import sys

    pytest.importorskip("nbconvert")
    pytest.importorskip("ipywidgets")
    steps = report.pipeline_steps(report.demo_parameters(demo_dir, out_dir=tmp_path / "processed"))
    prepared = report.prepare_notebooks(steps[:1], tmp_path / "prepared")[0]
    env = {k: v for k, v in os.environ.items() if k != "UCF_NB_PROGRESS"}  # as in Jupyter Lab
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            str(prepared),
            "--output-dir",
            str(tmp_path / "ran"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ran = (tmp_path / "ran" / prepared.name).read_text()
    assert "application/vnd.jupyter.widget-view+json" not in ran and "TqdmWarning" not in ran
    finished = re.findall(r"(\d+)/(\d+) \[", ran)
    assert finished and all(done == total for done, total in finished[-1:]), finished
    assert (tmp_path / "processed" / "index_clips.csv").is_file()


def test_toc_lists_exactly_the_executed_notebooks_of_a_run():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    files = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    executed = [f for f in files if f.startswith("executed/")]
    assert executed == [f"executed/{s.name}" for s in pipeline.pipeline_steps()]
    assert toc["root"] == "intro"
    for f in files:
        if not f.startswith("executed/"):
            assert (BOOK / f"{f}.md").is_file(), f"_toc.yml names {f} but book/{f}.md is missing"


def test_book_config_never_executes_notebooks():
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    # jupyter-book 1 does not pass html.use_download_button on: the theme options must say it
    theme = config["sphinx"]["config"]["html_theme_options"]
    assert theme["use_download_button"] is False and theme["use_fullscreen_button"] is False
    assert config["sphinx"]["recursive_update"] is True
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True


# --- cleaning executed notebooks --------------------------------------------------------------


def _executed_like_papermill():
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "papermill": {
                "start_time": "2024-01-01T00:00:00",
                "duration": 3.2,
                "input_path": "/somewhere/notebooks/x.ipynb",
                "parameters": {"split": "val"},
            },
        }
    )
    params = new_code_cell("split = 'train'", metadata={"tags": ["parameters"]})
    injected = new_code_cell(
        "# Parameters\nsplit = 'val'\n", metadata={"tags": ["injected-parameters"], "papermill": {"duration": 0.1}}
    )
    bar = (
        "  0%|          | 0/3 [00:00<?, ?it/s]\r 33%|███▎      | 1/3 [00:00<00:01,  1.9it/s]\r"
        "100%|██████████| 3/3 [00:01<00:00,  2.9it/s]\n"
    )
    work = new_code_cell(
        "run()",
        metadata={"execution": {"iopub.status.busy": "2024-01-01T00:00:01"}},
        outputs=[
            new_output("stream", name="stderr", text=bar[:40]),
            new_output("stream", name="stdout", text="val: 3 clips\n"),
            new_output("stream", name="stderr", text=bar[40:]),
            new_output(
                "stream",
                name="stderr",
                text="/opt/py/site-packages/tqdm/auto.py:21: TqdmWarning: "
                "IProgress not found. Please update jupyter and ipywidgets.\n"
                "  from .autonotebook import tqdm as notebook_tqdm\n",
            ),
        ],
    )
    return nb, params, injected, work


def test_clean_notebook_keeps_what_a_reader_needs_and_nothing_that_changes_per_run():
    nb, params, injected, work = _executed_like_papermill()
    nb.cells = [new_markdown_cell("# T"), params, injected, work]
    clean = pipeline.clean_notebook(nb)
    assert clean.metadata["papermill"] == {"parameters": {"split": "val"}}
    assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in clean.cells)
    assert clean.cells[2]["id"] == pipeline.INJECTED_CELL_ID
    assert "hide-input" in clean.cells[1].metadata["tags"]
    outs = clean.cells[3].outputs
    # streams merged per name, the progress bar reduced to its final state, tqdm's notice gone
    assert [(o.name, o.text) for o in outs] == [
        ("stderr", "100%|██████████| 3/3 [00:01<00:00,  2.9it/s]\n"),
        ("stdout", "val: 3 clips\n"),
    ]
    assert pipeline.clean_notebook(clean) == clean  # idempotent
    assert nb.cells[3].outputs[0].text != outs[0].text  # the input is left alone


def test_notebook_problems_name_tracebacks_absolute_paths_and_raw_bars():
    nb, params, injected, work = _executed_like_papermill()
    err = new_code_cell(
        "1/0", outputs=[new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=["..."])]
    )
    leak = new_code_cell(
        "p",
        outputs=[new_output("execute_result", data={"text/plain": str(project_root() / "x.csv")}, execution_count=1)],
    )
    nb.cells = [params, work, err, leak]
    problems = pipeline.notebook_problems(nb)
    assert any("cell 1" in p and "raw progress bar" in p for p in problems)
    assert any("cell 2 raised ZeroDivisionError" in p for p in problems)
    assert any("cell 3" in p and "absolute path" in p for p in problems)
    nb.cells = [params, pipeline.clean_notebook(nb).cells[1]]
    assert pipeline.notebook_problems(nb) == []


def test_golden_sanitize_patterns_are_idempotent_and_leave_numbers_alone():
    cfg = resolve_path(golden_tools.SANITIZE_FILE).read_text()
    patterns = golden_tools.read_sanitize_patterns(resolve_path(golden_tools.SANITIZE_FILE))
    # every [section] yields a pair: a malformed one would be dropped by nbval without a word
    assert len(patterns) == len(re.findall(r"(?m)^\[\w+\]$", cfg)) >= 5
    text = (
        "/opt/py/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter\n"
        "  from .autonotebook import tqdm as notebook_tqdm\n"
        "train: 100%|██████████| 180/180 [00:19<00:00,  9.34clips/s]\n"
        "n_clips          180\nseconds       19.282\nclips_per_s    9.335\n"
        "completed_at  2026-11-25T19:43:07+00:00\nclip AUC 0.6123, 32 frames, stride 16\n"
        "<Figure at 0x7f3a12bc4d90>\n"
    )
    html = "<tr>\n  <th>seconds</th>\n  <td>19.282</td>\n</tr><tr><th>n_done</th><td>180</td></tr>"
    nb = new_notebook()
    nb.cells = [
        new_code_cell(
            "x",
            outputs=[
                new_output("stream", name="stdout", text=text),
                new_output("display_data", data={"text/html": html}),
            ],
        )
    ]
    once = golden_tools.sanitize_notebook(nb, patterns)
    assert golden_tools.sanitize_notebook(once, patterns) == once
    out, out_html = once.cells[0].outputs[0].text, once.cells[0].outputs[1].data["text/html"]
    assert out.startswith("train: 100%")
    for gone in ("00:19", "9.34", "19.282", "9.335", "19:43:07", "0x7f3a", "TqdmWarning"):
        assert gone not in out + out_html, gone
    for kept in ("180/180", "n_clips          180", "0.6123", "32 frames", "stride 16", "<td>180</td>"):
        assert kept in out + out_html, kept
    # a value of another width normalises to the same text: the padding goes too
    other = golden_tools.sanitize_notebook(
        nbformat.from_dict(
            {
                **nb,
                "cells": [
                    new_code_cell(
                        "x",
                        outputs=[
                            new_output("stream", name="stdout", text=text.replace("      19.282", "     119.282")),
                            new_output("display_data", data={"text/html": html}),
                        ],
                    )
                ],
            }
        ),
        patterns,
    )
    assert other.cells[0].outputs[0].text == out


def test_golden_sanitizer_blanks_the_ranked_tables_speed_and_keeps_its_metrics():
    import pandas as pd

    from ucf_nb import ranked_table

    def outputs(speed):
        table = pd.DataFrame(
            {
                "run": ["a_T8_mean", "b_T8_mean"],
                "head": ["mil", "linear"],
                "family": ["clip", "vivit"],
                "T": [8, 8],
                "views": ["center", "ten_crop"],
                "clips_per_s": [speed, 2 * speed],
                "frame_auc_test_field": [0.81, 0.7],
                "frame_auc_test_field_ci_low": [0.75, 0.6],
                "frame_auc_test_field_ci_high": [0.86, 0.8],
                "frame_far_test_field": [0.05, 0.2],
            }
        )
        table.attrs["headline"] = "frame_auc_test_field"
        ranked = ranked_table(table)
        nb = new_notebook()
        nb.cells = [
            new_code_cell(
                "x",
                outputs=[
                    new_output(
                        "execute_result",
                        execution_count=1,
                        data={"text/html": ranked._repr_html_(), "text/plain": repr(ranked)},
                    )
                ],
            )
        ]
        once = golden_tools.sanitize_notebook(nb, patterns)
        assert golden_tools.sanitize_notebook(once, patterns) == once
        return once.cells[0].outputs[0].data

    patterns = golden_tools.read_sanitize_patterns(resolve_path(golden_tools.SANITIZE_FILE))
    slow, fast = outputs(12.25), outputs(301.5)
    assert slow == fast  # two runs of a notebook differ in their speed only: the same after sanitizing
    for gone in ("12.2", "24.5"):
        assert gone not in slow["text/html"] + slow["text/plain"], gone
    for kept in ("0.810", "0.750\u20130.860", "0.050", "ten_crop", "<td>vivit</td>"):
        assert kept in slow["text/html"], kept


# --- building the book ------------------------------------------------------------------------


def _tiny_book(folder: Path, code: str, output_text: str) -> Path:
    """A copy of book/ whose toc has one executed notebook, with stored outputs."""
    shutil.copytree(BOOK, folder, ignore=shutil.ignore_patterns("_build", "executed", "intro.md"))
    (folder / "executed").mkdir()
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [
        new_markdown_cell("# Stored outputs"),
        new_code_cell(code, execution_count=1, outputs=[new_output("stream", name="stdout", text=output_text)]),
    ]
    nbformat.write(nb, folder / "executed" / "only.ipynb")
    (folder / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: executed/only\n")
    (folder / "intro.md").write_text(report.write_intro(_manifest(train=1), None, demo=True))
    return folder


@pytest.mark.slow
def test_a_run_prints_step_lines_only(tmp_path, capfd):
    """No kernel chatter (TCP without encryption, KeyboardInterrupt at shutdown), one line per step."""
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [new_code_cell("x = 1", metadata={"tags": ["parameters"]}), new_code_cell("print(x)")]
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "one.ipynb")
    lines = []
    steps = [report.Step("one", f"one_{i}", {"x": i}) for i in range(3)]
    pipeline.run_notebooks(steps, tmp_path / "out", notebooks_dir=tmp_path / "nbs", log=lines.append)
    out, err = capfd.readouterr()
    assert [re.sub(r"\d+\.\d s$", "T s", line) for line in lines] == [f"[{i + 1}/3] one_{i}    T s" for i in range(3)]
    assert out == "" and err == "", (out, err)
    assert "2" in nbformat.read(tmp_path / "out" / "one_2.ipynb", as_version=4).cells[-1].outputs[0]["text"]


@pytest.mark.slow
def test_build_shows_stored_outputs_and_never_executes(tmp_path):
    # Executing this cell would fail; the page must show the output stored by papermill.
    book = _tiny_book(resolve_path("build") / "test_book_tiny", "raise SystemExit('executed!')", "stored output 4217\n")
    try:
        index = report.build_book(book, quiet=True)
        page = (index.parent / "executed" / "only.html").read_text()
        assert "stored output 4217" in page and "executed!" not in page.split("raise SystemExit")[-1][:200]
        assert not (book / "_build" / ".jupyter_cache").exists()
    finally:
        shutil.rmtree(book)


@pytest.mark.slow
def test_a_warning_fails_the_build(tmp_path):
    book = _tiny_book(resolve_path("build") / "test_book_warn", "x = 1", "1\n")
    try:
        (book / "intro.md").write_text("# Intro\n\nSee {doc}`a page that does not exist <missing>`.\n")
        with pytest.raises(RuntimeError, match="warning fails the build"):
            report.build_book(book, quiet=True)
    finally:
        shutil.rmtree(book)


# --- the demo run, executed and built (fixture in conftest.py) --------------------------------


@pytest.mark.slow
def test_demo_run_executed_every_notebook_cleanly(demo_book):
    assert demo_book["warnings"] == []
    for path, step in zip(demo_book["executed"], demo_book["steps"]):
        nb = nbformat.read(path, as_version=4)
        assert pipeline.notebook_problems(nb) == [], path.name
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1, f"{path.name}: papermill injected no parameters"
        for name, value in step.parameters.items():
            assert (
                f"{name} = {value!r}" in injected[0].source.replace('"', "'")
                or f"{name} = {json.dumps(value)}" in injected[0].source
            ), (path.name, name)
        # the first cell is the page's title: the toc needs it
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), path.name


@pytest.mark.slow
def test_demo_book_pages_show_figures_tables_and_no_machine_paths(demo_book):
    html = demo_book["html"]
    pages = {p.relative_to(html).as_posix(): p.read_text() for p in html.rglob("*.html")}
    for name in ("intro.html", "reproduce.html", *[f"executed/{s.name}.html" for s in demo_book["steps"]]):
        assert name in pages, f"{name} was not built"
    root = os.fspath(demo_book["project_root"])
    for name, text in pages.items():
        assert root not in text, f"{name} shows the absolute path {root}"
        assert "Traceback (most recent call last)" not in text, f"{name} shows a traceback"
        assert "\r" not in text and "it/s]\x1b" not in text, f"{name} shows a raw progress bar"
    # figures are PNGs written next to the pages, and at least one table per index page
    for name in ("executed/01_index_checks.html", "executed/03_probe.html"):
        imgs = re.findall(r'<img[^>]+src="([^"]+\.png)"', pages[name])
        assert imgs, f"{name} shows no figure"
        for src in imgs:
            assert (html / Path(name).parent / src).resolve().is_file(), f"{name}: {src} missing"
    assert "<table" in pages["executed/01_index_checks.html"]
    intro = pages["intro.html"]
    manifest = json.loads((demo_book["out_dir"] / "manifest.json").read_text())
    assert manifest["index"]["sha256"] in intro
    assert "random tiny encoder on synthetic videos" in intro
    metrics = json.loads((demo_book["out_dir"] / "probe" / "metrics.json").read_text())
    assert f"{metrics['clip_auc_test']:.3f}" in intro


@pytest.mark.slow
def test_demo_comparison_page_ranks_three_families_by_frame_auc(demo_book):
    from ucf_nb import compare_runs

    table = compare_runs(root=demo_book["processed"] / "runs")
    assert table.attrs["headline"] in ("frame_auc_test_field", "frame_auc_test")
    assert {"timesformer", "videomae", "clip"} <= set(table["family"])
    ranked = table[table.attrs["headline"]].to_numpy()
    assert np.all(np.isfinite(ranked)) and np.all(np.diff(ranked) <= 0)
    # the ranked table lets run names wrap after - and _ (<wbr>): read it as the text it shows
    page = (demo_book["html"] / "executed" / "04_compare.html").read_text().replace("<wbr>", "")
    positions = [page.index(run) for run in dict.fromkeys(table["run"])]
    assert positions == sorted(positions), "the page's table is not in ranked order"
    assert "none of these numbers is comparable" in page


def test_intro_shows_the_mil_head_beside_the_probe_with_the_field_headline():
    lin = {
        **METRICS,
        "frame_auc_test_field": 0.7,
        "frame_auc_test_field_ci95": [0.65, 0.75],
        "frame_far_test_field": 0.125,
        "head": "linear",
        "settings": {"C": 0.1, "mode": "full"},
    }
    mil = {**lin, "frame_auc_test_field": 0.8, "head": "mil", "settings": {"best_iter": 300, "val_curve": [1]}}
    text = report.write_intro(_manifest(train=3), lin, metrics_mil=mil)
    lines = text.splitlines()
    assert "| Metric | Linear probe | MIL head |" in lines
    first = lines[lines.index("| Metric | Linear probe | MIL head |") + 2]
    assert first == "| Frame ROC AUC, test, field protocol (headline) | 0.700 | 0.800 |"
    assert "| 95% CI, bootstrap over test videos | 0.650, 0.750 | 0.650, 0.750 |" in lines
    assert "f < 16·floor(n/16)" in text and "refit on train + val" in text
    assert "| `best_iter` | 300 |" in text and "| `C` | 0.1 |" in text and "val_curve" not in text


def test_golden_notebooks_run_the_source_notebooks_code():
    # nbval runs a golden notebook's own cells: were they an older version of the source
    # notebook's, the regression tests would check code that no user runs
    sources = {p.stem: p for p in resolve_path("notebooks").glob("*.ipynb")}
    goldens = sorted(resolve_path(golden_tools.GOLDEN_DIR).glob("*.ipynb"))
    assert len(goldens) >= len(sources)
    stale = []
    for golden in goldens:
        stem = max((s for s in sources if golden.stem.startswith(s)), key=len)  # 02_extract_val -> 02_extract
        code = [
            c.source
            for c in nbformat.read(golden, as_version=4).cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
        ]
        if code != [c.source for c in nbformat.read(sources[stem], as_version=4).cells if c.cell_type == "code"]:
            stale.append(f"{golden.name} (from {sources[stem].name})")
    assert not stale, f"golden notebooks older than their source notebooks: {', '.join(stale)}; run make regold"
