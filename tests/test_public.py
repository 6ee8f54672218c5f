"""The public face: ucf_nb's top-level names are its public modules' __all__, lazily imported."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import ucf_nb


def test_top_level_names_are_the_modules_own_objects():
    seen: dict[str, str] = {}
    for module in ucf_nb.PUBLIC_MODULES:
        mod = importlib.import_module(f"ucf_nb.{module}")
        for name in mod.__all__:
            assert name not in seen, f"{name} is exported by both ucf_nb.{seen[name]} and ucf_nb.{module}"
            seen[name] = module
            assert getattr(ucf_nb, name) is getattr(mod, name), f"ucf_nb.{name} is not ucf_nb.{module}.{name}"
    assert sorted(seen) == ucf_nb.__all__


def test_test_and_demo_helpers_stay_in_their_modules():
    from ucf_nb import demo, synthetic

    for name in (*synthetic.__all__, *demo.__all__, "atomic_write", "check_int"):
        assert name not in ucf_nb.__all__
        with pytest.raises(AttributeError, match=f"no attribute '{name}'"):
            getattr(ucf_nb, name)


@pytest.mark.slow
def test_import_is_lazy_and_reading_an_index_needs_no_torch():
    code = ("import sys, ucf_nb; ucf_nb.read_index; ucf_nb.validate_index; ucf_nb.build_index; "
            "print(sorted(m for m in ('torch', 'transformers', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
