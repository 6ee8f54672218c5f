"""The manifest of an extraction: what was embedded, how, from what.

``out_dir/manifest.json`` records the encoder (checkpoint, revision, model type), the clip
settings (T, image size, pooling, precision, preprocessing), the index (path, sha256), the
package versions and, per split, the files, counts and timings (see :func:`read_manifest`).
The *fingerprint* (:data:`FINGERPRINT_KEYS`) is the part that must agree for outputs to be
mixed in one ``out_dir``; :func:`manifest_differences` names what changed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..files import read_json
from ..paths import demo_hint, display_path, resolve_path

__all__ = ["read_manifest", "package_versions"]

MANIFEST = "manifest.json"
FORMAT = "ucf_nb.embeddings/1"
# settings that must agree for outputs to be mixed in one out_dir
FINGERPRINT_KEYS = (
    "index_sha256",
    "checkpoint",
    "revision",
    "model_type",
    "embedding_dim",
    "pooling",
    "precision",
    "T",
    "img_size",
    "preprocessing",
)
# settings that are part of the fingerprint only when present: "views" other than "center"
# (a run made before views existed, or a centre run, has no such key: its fingerprint is unchanged)
OPTIONAL_FINGERPRINT_KEYS = ("views",)


def fingerprint(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``settings`` that must agree for outputs to be mixed in one ``out_dir``."""
    return {k: settings[k] for k in (*FINGERPRINT_KEYS, *OPTIONAL_FINGERPRINT_KEYS) if k in settings}


# Distributions whose versions a run records, in this order.
VERSIONED_PACKAGES = (
    "ucf-nb",
    "torch",
    "transformers",
    "numpy",
    "pandas",
    "scikit-learn",
    "av",
    "opencv-python-headless",
    "papermill",
    "jupyter-book",
)


def package_versions(names: Sequence[str] = VERSIONED_PACKAGES) -> dict[str, str]:
    """Installed versions of Python and of ``names`` (distribution names), ``"not installed"``
    where absent. Recorded in the manifest and shown on the book's intro page."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def jsonable(obj: Any) -> Any:
    """Round-trip through JSON so that tuples/lists and numpy scalars compare equal."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def put_split(m: dict[str, Any], split: str, entry: dict[str, Any], settings: Mapping[str, Any]) -> None:
    if not m.get("splits"):
        m.clear()
        m.update(_manifest_header(settings))
    m.setdefault("splits", {})[split] = entry


def _manifest_header(settings: Mapping[str, Any]) -> dict[str, Any]:
    s = jsonable(dict(settings))
    return {
        "format": FORMAT,
        "created_at": utc_now(),
        "updated_at": utc_now(),
        "model": {"checkpoint": s["checkpoint"], "revision": s["revision"], "model_type": s["model_type"]},
        "T": s["T"],
        "img_size": s["img_size"],
        "embedding_dim": s["embedding_dim"],
        "pooling": s["pooling"],
        "precision": s["precision"],
        "preprocessing": s["preprocessing"],
        "views": s.get("views", "center"),
        "index": {"path": s.get("index_path"), "sha256": s["index_sha256"]},
        "versions": s.get("versions", {}),
        "splits": {},
    }


def manifest_settings(m: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint settings recorded in a manifest, under FINGERPRINT_KEYS names."""
    model = m.get("model", {})
    out = {
        "index_sha256": m.get("index", {}).get("sha256"),
        "checkpoint": model.get("checkpoint"),
        "revision": model.get("revision"),
        "model_type": model.get("model_type"),
        "embedding_dim": m.get("embedding_dim"),
        "pooling": m.get("pooling"),
        "precision": m.get("precision"),
        "T": m.get("T"),
        "img_size": m.get("img_size"),
        "preprocessing": m.get("preprocessing"),
    }
    if m.get("views", "center") != "center":
        out["views"] = m["views"]
    return out


def manifest_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two fingerprints, one per key."""
    old, new = jsonable(dict(old)), jsonable(dict(new))
    out = []
    for k in (*FINGERPRINT_KEYS, *OPTIONAL_FINGERPRINT_KEYS):
        a, b = old.get(k), new.get(k)
        if k in OPTIONAL_FINGERPRINT_KEYS:  # absent means the default
            a, b = a or "center", b or "center"
        if a == b:
            continue
        if k == "index_sha256":
            out.append(f"the index file differs (sha256 {str(a)[:12]} before, {str(b)[:12]} now)")
        elif isinstance(a, dict) and isinstance(b, dict):
            sub = [
                f"{j}: {a.get(j)!r} before, {b.get(j)!r} now" for j in sorted(set(a) | set(b)) if a.get(j) != b.get(j)
            ]
            out.append(f"{k} ({', '.join(sub)})")
        else:
            out.append(f"{k}: {a!r} before, {b!r} now")
    return out


def read_manifest(out_dir_or_manifest: str | os.PathLike) -> dict[str, Any]:
    """Read ``manifest.json`` from an output folder (or a manifest file path).

    Top-level keys: ``format``, ``created_at``, ``updated_at``, ``model`` (checkpoint,
    revision, model_type), ``T``, ``img_size``, ``embedding_dim``, ``pooling``,
    ``precision``, ``preprocessing``, ``views`` (``"center"`` or ``"ten_crop"``; absent in
    manifests written before ucf-nb had views: ``"center"``), ``index`` (path, sha256),
    ``versions`` and ``splits``:
    per split ``files``, ``shape``, ``dtype``, ``n_clips``, ``n_done``, ``n_failed``,
    ``n_short``, ``seconds``, ``clips_per_s``, ``short_clips``, ``failed_clips``,
    ``shards`` and more. File names are relative to the manifest's folder.
    """
    path = manifest_file(out_dir_or_manifest)
    if not path.exists():
        raise FileNotFoundError(
            f"{display_path(path)} not found: run ucf_nb.extract_split "
            f"(notebooks/02_extract.ipynb) first{demo_hint(path, 'out_dir', folder=True)}"
        )
    return read_json(path)


def manifest_file(out_dir_or_manifest: str | os.PathLike) -> Path:

    p = resolve_path(out_dir_or_manifest)
    return p if p.suffix == ".json" else p / MANIFEST
