"""What machine a benchmark ran on, and the results tables it writes into benchmarks/README.md."""

from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` reports it (``platform.processor()`` without lscpu)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def write_readme_block(section: str, body: str, readme: Path = README) -> None:
    """Replace the text between ``<!-- {section}:begin -->`` and ``<!-- {section}:end -->`` in
    benchmarks/README.md with ``body`` (a new ``## {section}`` part at the end when absent)."""
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    old = readme.read_text() if readme.exists() else ""
    block = f"{begin}\n{body}\n{end}"
    if begin in old and end in old:
        new = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: block, old, flags=re.S)
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + f"## {section}\n\n{block}\n"
    readme.write_text(new)
