"""pvbatch/pvpython check of the ParaView arrangement: prints one JSON line, exit status 0 when usable.

Usage: xvfb-run -a pvbatch paraview_plugins/check_environment.py
Checks that ParaView's Python imports the venv's numpy, h5py (HDF5 round trip), torch and ddml_engine, and that
the ddml plugins load through ParaView's plugin loader (which needs the getargspec shim, docs/paraview.md).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from paraview_plugins import env  # noqa: E402

report = env.prepare()
result = {"python": sys.version.split()[0], "numpy": report.numpy_file, "hdf5": report.h5py_hdf5,
          "problems": list(report.problems)}
shim = "ddml_paraview_compat" in sys.modules
result["getargspec_shim_installed"] = shim
try:
    import tempfile

    import h5py
    import numpy as np
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        with h5py.File(os.path.join(tmp, "x.h5"), "w") as f:
            f["a"] = np.arange(3.0)
        with h5py.File(os.path.join(tmp, "x.h5"), "r") as f:
            assert f["a"][()].tolist() == [0.0, 1.0, 2.0]
    result["torch"] = torch.__version__
    from paraview.simple import LoadPlugin

    plugins = os.path.join(env.REPO_ROOT, "paraview_plugins", "plugins")
    for name in ("ddml_readers.py", "ddml_nye.py"):
        LoadPlugin(os.path.join(plugins, name), ns=globals())
    result["plugins"] = "ddmlNyeTensorField" in globals() and "ddmlTrajectoryReader" in globals()
except Exception as exc:
    result["problems"].append(f"{type(exc).__name__}: {exc}")
ok = not result["problems"] and result.get("plugins")
print(("ddml-paraview-ok " if ok else "ddml-paraview-FAILED ") + json.dumps(result))
sys.exit(0 if ok else 1)
