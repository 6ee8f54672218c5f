"""TimeSformer forward pass alone: transformers' eager attention against the SDPA attention.

A real-size ``TimesformerConfig()`` (hidden 768, 12 layers, 12 heads, 8 frames, 224x224;
random weights, seeded: speed does not depend on them) runs the same random clips with
eager attention and with ``ucf_nb.encoders.timesformer_sdpa`` (same module, same weights,
switched in place), in fp32 and in bf16 autocast, interleaved (eager, sdpa, eager, sdpa,
...) so that load from other processes on a shared machine hits both alike; each figure is
the best of ``--repeats``. With ``--threads 1`` the CPU time of the process is what a
dedicated core would take, also while other jobs share the machine. It also prints the per-clip cosine similarity of the CLS
embeddings: SDPA vs eager in fp32 and in bf16, and bf16 vs fp32 (eager), the tolerance bf16
itself costs.

Run from the project root::

    PYTHONPATH=. python benchmarks/bench_attention.py              # CPU or CUDA, whichever is here
    PYTHONPATH=. python benchmarks/bench_attention.py --batch 1 --repeats 3 --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import cpu_model  # noqa: E402


def _cos(a, b):
    import torch

    a, b = a.double(), b.double()
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=2, help="clips per forward pass (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats, best kept (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    p.add_argument("--tiny", action="store_true", help="a tiny config instead of the real size (for tests)")
    args = p.parse_args(argv)

    import torch
    from transformers import TimesformerConfig, TimesformerModel

    from ucf_nb.encoders.timesformer_sdpa import set_timesformer_attention

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    cfg = (
        TimesformerConfig(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            image_size=64,
            patch_size=16,
            num_frames=4,
        )
        if args.tiny
        else TimesformerConfig()
    )
    torch.manual_seed(0)
    model = TimesformerModel(cfg).eval().requires_grad_(False).to(dev)
    x = torch.randn(
        args.batch, cfg.num_frames, 3, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(1)
    ).to(dev)

    def run(attention: str, bf16: bool):
        set_timesformer_attention(model, attention)
        ctx = torch.autocast(dev.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with torch.inference_mode(), ctx:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            out = model(pixel_values=x).last_hidden_state[:, 0].float()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - t0, out.cpu(), time.process_time() - c0

    cases = [(a, b) for b in (False, True) for a in ("eager", "sdpa")]
    best = {c: float("inf") for c in cases}
    best_cpu = {c: float("inf") for c in cases}
    emb = {}
    for c in cases:  # warm-up (first-call allocations, oneDNN/cuBLAS plans)
        emb[c] = run(*c)[1]
    for _ in range(args.repeats):
        for c in cases:
            t, emb[c], cpu = run(*c)
            best[c] = min(best[c], t)
            best_cpu[c] = min(best_cpu[c], cpu)

    name = (
        "TimesformerConfig() (real size: 768 wide, 12 layers, 12 heads, T=8, 224x224)"
        if not args.tiny
        else "tiny TimesformerConfig (64 wide, 2 layers, T=4, 64x64)"
    )
    where = (
        torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{cpu_model()}, {torch.get_num_threads()} threads"
    )
    cmd = "PYTHONPATH=. python benchmarks/bench_attention.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        f"Machine: {where}; torch {torch.__version__}, transformers {__import__('transformers').__version__}; "
        f"load average {os.getloadavg()[0]:.1f} at the end. Date: {_dt.date.today().isoformat()}. "
        f"Command: `{cmd.strip()}`.",
        "",
        f"Model: {name}, random weights; {args.batch} clip(s) per forward pass; best of {args.repeats} "
        "interleaved repeats.",
        "",
        "| precision | eager, s/batch | SDPA, s/batch | eager, clips/s | SDPA, clips/s | SDPA speed-up "
        "| eager, CPU s/batch | SDPA, CPU s/batch | speed-up in CPU time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for bf16 in (False, True):
        te, ts = best[("eager", bf16)], best[("sdpa", bf16)]
        ce, cs = best_cpu[("eager", bf16)], best_cpu[("sdpa", bf16)]
        lines.append(
            f"| {'bf16 autocast' if bf16 else 'fp32'} | {te:.3f} | {ts:.3f} | {args.batch / te:.2f} | "
            f"{args.batch / ts:.2f} | {te / ts:.2f}x | {ce:.3f} | {cs:.3f} | {ce / cs:.2f}x |"
        )
    pairs = [
        ("SDPA vs eager, fp32", ("sdpa", False), ("eager", False)),
        ("SDPA vs eager, bf16", ("sdpa", True), ("eager", True)),
        ("bf16 vs fp32, eager", ("eager", True), ("eager", False)),
        ("bf16 vs fp32, SDPA", ("sdpa", True), ("sdpa", False)),
        ("SDPA bf16 vs eager fp32", ("sdpa", True), ("eager", False)),
    ]
    lines += ["", "Cosine similarity of the CLS embeddings, per clip:", "", "| pair | min | mean |", "|---|---:|---:|"]
    for label, a, b in pairs:
        c = _cos(emb[a], emb[b])
        lines.append(f"| {label} | {c.min().item():.7f} | {c.mean().item():.7f} |")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
