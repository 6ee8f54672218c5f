"""Video files made by the tests that need a damaged or lying container (helpers, not fixtures:
importable by name from any test module, unlike ``conftest``, which nbval's golden folder
shadows when the whole tests/ folder is collected)."""

from __future__ import annotations

import os


def faststart_truncated(src, dst, keep: float = 0.6):
    """A file whose container lies: the header (moved to the front) lists every frame, but
    the bytes end after ``keep`` of the file, so decoding stops early."""
    import av

    tmp = str(dst) + ".full.mp4"
    with av.open(str(src)) as inp, av.open(tmp, "w", options={"movflags": "faststart"}) as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for pkt in inp.demux(s_in):
            if pkt.dts is None:
                continue
            pkt.stream = s_out
            out.mux(pkt)
    with open(tmp, "rb") as f:
        data = f.read()
    os.remove(tmp)
    with open(dst, "wb") as f:
        f.write(data[: int(len(data) * keep)])
    return dst
