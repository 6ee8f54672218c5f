"""Leave nothing running: ``kill -9`` of an extraction while its decode workers run leaves no
fork server, worker or resource tracker behind (real processes, in a subprocess with deadlines)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of ``pid``, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: pid -> start time (to tell a reused pid apart)."""
    parent, start = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[1] != "Z":
                parent[int(entry)], start[int(entry)] = st[0], st[2]
    out, frontier = {}, [root]
    while frontier:
        p = frontier.pop()
        for child, pp in parent.items():
            if pp == p and child not in out:
                out[child] = start[child]
                frontier.append(child)
    return out


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] != "Z" and st[2] == start


@pytest.mark.slow
def test_kill_9_of_an_extraction_leaves_no_worker_fork_server_or_tracker(tmp_path):
    from test_extract import S, _write_index

    from ucf_nb.demo import make_demo_encoder

    # one long video: its worker decodes for many seconds (one commit, with fsync, per clip)
    index = _write_index(tmp_path, [("train", 0, "Normal", "Normal_Videos001_x264.mp4", 2400, 2400)])
    enc = make_demo_encoder(tmp_path / "encoder", img_size=S)
    code = (
        "from ucf_nb import extract_split\nfrom ucf_nb.store.arrays import ShardWriter\n"
        "ShardWriter.COMMIT_EVERY = 0.0\n"
        f"extract_split('train', {str(index)!r}, out_dir={str(tmp_path / 'out')!r}, checkpoint={str(enc)!r}, "
        f"img_size={S}, preprocessing='seed', num_workers=1, batch_size=1, precision='fp32', progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            seen = _descendants(proc.pid)
            # a worker is a grandchild: forked by the fork server, itself a child of the run
            if any(_stat(p) and _stat(p)[0] != proc.pid for p in seen):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before its workers started: {proc.stderr.read()[-2000:]}"
        assert any(_stat(p) and _stat(p)[0] != proc.pid for p in seen), "no decode worker started in 180 s"
        time.sleep(0.5)  # the worker decodes now
        seen = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        left = dict(seen)
        while left and time.monotonic() < deadline:
            left = {p: s for p, s in left.items() if _alive(p, s)}
            time.sleep(0.1)
        names = {
            p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:150]
            for p in left
            if Path(f"/proc/{p}/cmdline").exists()
        }
        assert not left, f"still running 10 s after the run was killed: {names}"
    finally:
        for p, s in _descendants(proc.pid).items() | seen.items():
            if _alive(p, s):
                os.kill(p, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
