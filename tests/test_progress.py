"""Progress bars: widget bars in an interactive kernel, text bars in the book and the tests."""

from __future__ import annotations

import importlib.util

import pytest
import tqdm

from ucf_nb import progress


def test_text_bar_outside_a_kernel_and_when_asked(monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    bar = progress.progress_bar(total=3, disable=True)
    assert type(bar) is tqdm.tqdm  # a terminal, not a Jupyter kernel
    monkeypatch.setenv(progress.PROGRESS_ENV, "text")
    assert type(progress.progress_bar(total=3, disable=True)) is tqdm.tqdm


@pytest.mark.skipif(importlib.util.find_spec("ipywidgets") is None, reason="ipywidgets is not installed")
def test_widget_bar_when_asked_and_ipywidgets_is_there(monkeypatch):
    monkeypatch.setenv(progress.PROGRESS_ENV, "widget")
    assert progress._kind() == "widget"
    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    monkeypatch.delenv(progress.PROGRESS_ENV)
    assert progress._kind() == "widget"
    monkeypatch.setenv(progress.PROGRESS_ENV, "text")  # the book's runs: text even in a kernel
    assert progress._kind() == "text"


def test_without_ipywidgets_the_text_bar_and_no_warning(monkeypatch, recwarn):
    monkeypatch.setattr(progress, "_widgets_available", lambda: False)
    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    monkeypatch.setenv(progress.PROGRESS_ENV, "widget")
    assert type(progress.progress_bar(total=3, disable=True)) is tqdm.tqdm
    assert not [w for w in recwarn if issubclass(w.category, tqdm.TqdmWarning)]


def test_a_bad_setting_is_named(monkeypatch):
    monkeypatch.setenv(progress.PROGRESS_ENV, "widgets")
    with pytest.raises(ValueError, match=r"UCF_NB_PROGRESS='widgets' is not a progress-bar kind"):
        progress.progress_bar(total=1)


def test_text_progress_sets_and_restores_the_variable(monkeypatch):
    import os

    monkeypatch.setenv(progress.PROGRESS_ENV, "widget")
    with progress.text_progress():
        assert os.environ[progress.PROGRESS_ENV] == "text"
    assert os.environ[progress.PROGRESS_ENV] == "widget"
    monkeypatch.delenv(progress.PROGRESS_ENV)
    with progress.text_progress():
        pass
    assert progress.PROGRESS_ENV not in os.environ


@pytest.mark.parametrize("kind", ["text", "widget"])
def test_finish_early_ends_the_bar_full_with_its_reason(monkeypatch, kind):
    if kind == "widget" and importlib.util.find_spec("ipywidgets") is None:
        pytest.skip("ipywidgets is not installed")
    monkeypatch.setenv(progress.PROGRESS_ENV, kind)
    bar = progress.progress_bar(total=400, desc="train")
    for it in range(1, 401):
        bar.update(1)
        if it == 150:
            progress.finish_early(bar, it, "stopped early at 150")
            break
    bar.close()
    assert (bar.n, bar.total) == (150, 150) and "stopped early at 150" in str(bar)
    if kind == "widget":  # full, and green rather than the red of an interrupted bar
        widget = bar.container.children[1]
        assert (widget.value, widget.max, widget.bar_style) == (150, 150, "success")
