"""Make ddml_engine and its dependencies importable inside ParaView's own Python (pvpython, pvbatch, GUI).

ParaView 5.11 from Debian embeds Debian's Python 3.11; our venv (pyenv CPython 3.11.7) holds cp311 wheels that
load in it (same ABI). `prepare()` puts the venv's site-packages and the repository in front of sys.path, so the
venv's numpy (2.x) shadows Debian's (1.24; it must not be imported before), and imports h5py with
RTLD_DEEPBIND: ParaView's executables link Debian's libhdf5 1.10 into the global symbol scope, and without
DEEPBIND h5py's extension modules would bind to it instead of h5py's bundled HDF5 ("Not a datatype" at import).
All of h5py's extension modules are loaded under that flag, so none binds later to the wrong library.

The venv is $DDML_VENV if set, else <repository>/.venv. `prepare()` is idempotent and never raises: it returns
an EnvironmentReport whose `problems` say what is missing (the plugins show them as ParaView errors).
Arrangement (b), the other direction: `enable_paraview_import()` lets another Python 3.11 (our venv's) import
`paraview.simple` by finding only ParaView's own top-level packages (paraview, vtkmodules, vtk) in Debian's
dist-packages, so Debian's numpy and the rest of dist-packages stay invisible.
`patch_inspect()` restores inspect.getargspec (removed in Python 3.11, still imported by ParaView 5.11's
paraview/detail/pythonalgorithm.py); it must run before ParaView imports that module, see docs/paraview.md.
"""
from __future__ import annotations

import glob
import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class EnvironmentReport:
    repo_root: str
    site_packages: str | None
    numpy_file: str | None = None
    h5py_hdf5: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_REPORT: EnvironmentReport | None = None


def patch_inspect() -> None:
    """inspect.getargspec = inspect.getfullargspec where it is missing (Python >= 3.11)."""
    if not hasattr(inspect, "getargspec"):
        inspect.getargspec = inspect.getfullargspec  # type: ignore[attr-defined]


PARAVIEW_PACKAGES = ("paraview", "vtkmodules", "vtk")
DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


class _ParaViewFinder:
    """Meta-path finder resolving only ParaView's top-level packages from one directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def find_spec(self, name, path=None, target=None):
        if name in PARAVIEW_PACKAGES:
            from importlib.machinery import PathFinder

            return PathFinder.find_spec(name, [self.directory])
        return None


def enable_paraview_import(directory: str = DEBIAN_DIST_PACKAGES) -> bool:
    """Make `import paraview.simple` work in this interpreter without adding `directory` to sys.path.

    Returns False when ParaView's Python packages are not there. Also applies patch_inspect().
    """
    patch_inspect()
    if not os.path.isdir(os.path.join(directory, "paraview")):
        return False
    if not any(isinstance(f, _ParaViewFinder) for f in sys.meta_path):
        sys.meta_path.append(_ParaViewFinder(directory))
    return True


def import_paraview_simple(directory: str = DEBIAN_DIST_PACKAGES):
    """Arrangement (b): `paraview.simple` imported into this (venv) interpreter; returns the module.

    The venv-first finder is installed and numpy imported before ParaView, and the dist-packages entry that
    ParaView's interpreter set-up puts at the front of sys.path is removed again afterwards.
    """
    if not enable_paraview_import(directory):
        raise ImportError(f"ParaView's Python packages are not in {directory} (apt-get install python3-paraview)")
    site = venv_site_packages()
    _install_venv_first([REPO_ROOT] + ([site] if site else []))
    import numpy  # noqa: F401  (the venv's, before ParaView touches sys.path)

    simple = importlib.import_module("paraview.simple")
    target = os.path.realpath(directory)
    sys.path[:] = [p for p in sys.path if not (p and os.path.realpath(p) == target)]
    return simple


class _VenvFirstFinder:
    """Meta-path finder that resolves top-level imports in the repository and the venv first.

    ParaView (re)inserts Debian's dist-packages at the front of sys.path when it initialises its interpreter and
    when it loads plugins; this finder keeps numpy/scipy/h5py/torch/... coming from the venv regardless.
    ParaView's own packages are left to the normal finders.
    """

    def __init__(self, directories: list[str]) -> None:
        self.directories = directories

    def find_spec(self, name, path=None, target=None):
        if path is not None or name in PARAVIEW_PACKAGES:
            return None  # submodules follow their package's __path__
        from importlib.machinery import PathFinder

        return PathFinder.find_spec(name, self.directories)


def _install_venv_first(directories: list[str]) -> None:
    for finder in list(sys.meta_path):
        if isinstance(finder, _VenvFirstFinder):
            sys.meta_path.remove(finder)
    sys.meta_path.insert(0, _VenvFirstFinder(directories))


def venv_site_packages(venv: str | None = None) -> str | None:
    """site-packages of the ddml venv for this interpreter's minor version, or None when absent."""
    venv = venv or os.environ.get("DDML_VENV") or os.path.join(REPO_ROOT, ".venv")
    path = os.path.join(venv, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
    return path if os.path.isdir(path) else None


def _running_in_venv(site: str) -> bool:
    return any(os.path.realpath(p) == os.path.realpath(site) for p in sys.path if p and os.path.isdir(p))


def _import_h5py_deepbind() -> str:
    if "h5py" in sys.modules:
        return sys.modules["h5py"].version.hdf5_version
    flags = sys.getdlopenflags()
    deepbind = getattr(os, "RTLD_DEEPBIND", 0)
    sys.setdlopenflags(flags | deepbind)
    try:
        import h5py

        # Load every compiled submodule now, under the same flag (some are otherwise imported lazily).
        package = os.path.dirname(h5py.__file__)
        for path in sorted(glob.glob(os.path.join(package, "*.so"))):
            name = os.path.basename(path).split(".")[0]
            try:
                importlib.import_module(f"h5py.{name}")
            except ImportError:
                pass
    finally:
        sys.setdlopenflags(flags)
    return h5py.version.hdf5_version


def prepare(venv: str | None = None) -> EnvironmentReport:
    """Put the venv and the repository on sys.path and import h5py safely (module docstring). Idempotent."""
    global _REPORT
    if _REPORT is not None and _REPORT.ok:
        return _REPORT
    patch_inspect()
    site = venv_site_packages(venv)
    report = EnvironmentReport(REPO_ROOT, site)
    if site is None and "numpy" not in sys.modules:
        report.problems.append(
            f"no venv site-packages for Python {sys.version_info[0]}.{sys.version_info[1]} "
            f"(looked in $DDML_VENV or {os.path.join(REPO_ROOT, '.venv')}); run scripts/setup.sh")
    if site is not None and not _running_in_venv(site):
        numpy_before = sys.modules.get("numpy")
        sys.path.insert(0, site)
        if numpy_before is not None and not os.path.realpath(numpy_before.__file__).startswith(os.path.realpath(site)):
            report.problems.append(
                f"numpy was imported from {numpy_before.__file__} before the ddml plugins set up the venv; "
                "load the ddml plugins first (or start ParaView with PV_PLUGIN_PATH set, docs/paraview.md)")
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
    _install_venv_first([REPO_ROOT] + ([site] if site else []))
    try:
        import numpy

        report.numpy_file = numpy.__file__
        report.h5py_hdf5 = _import_h5py_deepbind()
        importlib.import_module("ddml_engine")
    except Exception as exc:  # report, never raise inside ParaView
        report.problems.append(f"cannot import ddml_engine's dependencies: {type(exc).__name__}: {exc}")
    _REPORT = report
    return report
