"""ParaView 5.11 on Python >= 3.11: restore inspect.getargspec before paraview.detail.pythonalgorithm imports it.

Installed next to a one-line `ddml_paraview_compat.pth` in Debian's /usr/local/lib/python3.11/dist-packages by
scripts/setup_paraview.sh, so ParaView's GUI, pvpython and pvbatch can load Python plugins (ddml's included).
Cheap for every other program: it only adds a meta-path finder that acts when that one module is imported.
"""
import sys


class _GetargspecShim:
    """Meta-path finder that patches `inspect` when paraview.detail.pythonalgorithm is first imported."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "paraview.detail.pythonalgorithm":
            import inspect

            if not hasattr(inspect, "getargspec"):
                inspect.getargspec = inspect.getfullargspec
        return None  # the normal finders import the module


if sys.version_info >= (3, 11) and not any(isinstance(f, _GetargspecShim) for f in sys.meta_path):
    sys.meta_path.insert(0, _GetargspecShim())
