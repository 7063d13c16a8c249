"""An optional compiled core: the model's hot modules (``sim/cluster``, ``sim/clients``,
``sim/history.py``) and the checkers built with mypyc, which runs a seed about twice as fast and
gives byte-identical histories and verdicts.

    eosim compile            # once per version of the sources; needs mypy and a C compiler

Nothing else changes: a build is used only while it matches the sources it was built from (a
digest of every compiled module's text and the interpreter's ABI), so an edited module, a new
checkout or another Python falls back to plain Python on its own, never to a stale build.
``EOSIM_PURE_PYTHON=1`` runs plain Python whatever is built (the test suite does, so that its
monkeypatching reaches the code; a test compares the compiled core's golden digests with plain
Python's). Builds live in ``$EOSIM_COMPILED_DIR``, else ``$XDG_CACHE_HOME/eosim/compiled``
(``~/.cache/eosim/compiled``), one directory per digest, each written under a temporary name
and renamed when complete.

Why mypyc rather than a hand-written C core: it compiles the same typed Python that runs
uncompiled, so there is one model to read and test, and mypy's own releases are built with it.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sim/cluster", "sim/clients", "checkers")
MODULES = ("sim/history.py",)
# Left interpreted: the packages' __init__, the message trace (it reads a slotted class's
# __slots__ through the class, which mypyc forbids; tracing is off the default path) and user
# pipelines (user code calls into them; mypyc 1.x fails on one of their loops).
LEFT_INTERPRETED = frozenset({"__init__.py", "trace.py", "user.py"})
PURE_ENV = "EOSIM_PURE_PYTHON"
COMPLETE = "complete"  # written last: a build directory without it is not used

_digest: str | None = None


def compiled_sources(root: Path = ROOT) -> list[Path]:
    """The modules a build compiles, relative to ``root``, in a fixed order."""
    found = [
        p.relative_to(root)
        for package in PACKAGES
        for p in sorted((root / package).glob("*.py"))
        if p.name not in LEFT_INTERPRETED
    ]
    return [*found, *(Path(m) for m in MODULES)]


def source_digest(root: Path = ROOT) -> str:
    """What a build must match: the interpreter's extension-module ABI and every compiled
    module's path and text."""
    import hashlib

    h = hashlib.sha256(EXTENSION_SUFFIXES[0].encode())
    for rel in compiled_sources(root):
        h.update(b"\0" + rel.as_posix().encode() + b"\0" + (root / rel).read_bytes())
    return h.hexdigest()[:20]


def cache_root() -> Path:
    explicit = os.environ.get("EOSIM_COMPILED_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "eosim" / "compiled"


def build_dir() -> Path:
    global _digest
    if _digest is None:
        _digest = source_digest()
    return cache_root() / _digest


class _Finder:
    """Finds the compiled modules of one build (a ``sys.meta_path`` entry, ahead of the path
    finder): every other module, and these too when the build is not used, load as usual."""

    def __init__(self, build: Path) -> None:
        self.build = build
        self.files = {
            ".".join(ext.relative_to(build).parts[:-1] + (ext.name.split(".", 1)[0],)): ext
            for ext in sorted(build.glob("*/**/*.so"))
            if ext.parent.name != "lib"
        }

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> Any:
        from importlib.machinery import ExtensionFileLoader
        from importlib.util import spec_from_file_location

        file = self.files.get(fullname)
        if file is None or os.environ.get(PURE_ENV):
            # the pure switch is read at each import, not only at install: ``import sim`` may
            # come first (pytest loads sim.pytest_plugin before a conftest can set it)
            return None
        return spec_from_file_location(
            fullname, str(file), loader=ExtensionFileLoader(fullname, str(file))
        )


def install() -> bool:
    """Use the compiled core from here on if a complete build matches the sources and
    ``EOSIM_PURE_PYTHON`` is not set; called once by ``sim/__init__.py``, before any model
    module is imported. Returns whether it is in use."""
    if not active():
        return False
    build = build_dir()
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        library = str(build / "lib")  # mypyc's shared module for the whole group
        if library not in sys.path:
            sys.path.insert(0, library)  # its name is a hash: nothing else is shadowed
        sys.meta_path.insert(0, _Finder(build))
    return True


def active() -> bool:
    """Whether this process runs (or, before the model is imported, will run) the compiled
    core: the pure switch is off and a complete build matches the sources."""
    if os.environ.get(PURE_ENV) or not cache_root().is_dir():
        return False  # (no build at all: the sources are not even read)
    try:
        return (build_dir() / COMPLETE).is_file()
    except OSError:
        return False


def build(force: bool = False, out: Path | None = None) -> Path:
    """Compile the hot modules with mypyc into a build directory for the current sources and
    return it (an existing complete build is reused unless ``force``). A copy of the three
    packages is compiled (mypyc type-checks the imports too), so the source tree is left as
    it is; the result is renamed into place only once it is complete."""
    import shutil
    import subprocess
    import sysconfig
    import tempfile

    from sim.errors import UsageError

    try:
        import mypyc  # noqa: F401
    except ImportError:
        raise UsageError(
            "eosim compile needs mypyc, which comes with mypy: pip install 'eosim[fast]'"
        ) from None
    compiler = str(sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        raise UsageError(f"eosim compile needs a C compiler ({compiler}) and Python's headers")
    target = out if out is not None else build_dir()
    if (target / COMPLETE).is_file() and not force:
        return target
    root = target.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    except OSError as exc:
        raise UsageError(f"cannot write compiled builds to {root}: {exc.strerror}") from None
    try:
        src = work / "src"
        for package in ("sim", "faults", "checkers"):
            shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns(
                "__pycache__", "*.so", "*.pyc"))  # fmt: skip
        settings = ROOT / "pyproject.toml"  # mypy's settings (untyped imports); an installed
        if settings.is_file():  # copy (site-packages) has none: the one setting it needs
            shutil.copy(settings, src)
        else:
            (src / "mypy.ini").write_text("[mypy]\nignore_missing_imports = True\n")
        files = [str(rel) for rel in compiled_sources(src)]
        proc = subprocess.run(
            [sys.executable, "-m", "mypyc", *files],
            cwd=src,
            capture_output=True,
            text=True,
            env={**os.environ, "MYPYC_OPT_LEVEL": os.environ.get("MYPYC_OPT_LEVEL", "3")},
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            raise UsageError("mypyc failed: " + " | ".join(tail))
        done = work / "done"
        (done / "lib").mkdir(parents=True)
        for lib in src.glob("*__mypyc*.so"):
            shutil.move(str(lib), done / "lib" / lib.name)
        for rel in compiled_sources(src):
            ext = next((src / rel.parent).glob(rel.stem + ".*.so"))
            (done / rel.parent).mkdir(parents=True, exist_ok=True)
            shutil.move(str(ext), done / rel.parent / ext.name)
        digest = source_digest(src)
        if out is None and digest != target.name:
            raise UsageError("the sources changed during the build: run eosim compile again")
        (done / COMPLETE).write_text(digest + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(done, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
