"""ParaView plugin: readers for ddml dislocation networks and trajectories (thin wrappers over ddml_engine).

  ddml Network Reader     ParaDiS `.data`, OVITO `.ca`               -> vtkPolyData (one line per segment)
  ddml Trajectory Reader  HDF5 ddml snapshot store (`.h5`, `.hdf5`)   -> vtkPolyData per time step

Geometry and arrays: ddml_engine.io.polydata (Burgers vector, segment class, junction flag `physical_node`,
node degree, ...; per-node/per-segment arrays stored with a frame, e.g. forces/velocities; cell matrix,
origin, time and stress as field data). Lengths in b, time in s. Load with Tools > Manage Plugins > Load New
or PV_PLUGIN_PATH (docs/paraview.md). Errors (bad file, missing engine) appear as ParaView error messages
that name the file; the output is then empty.
"""
import os
import sys

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)
from paraview_plugins import env as _env  # noqa: E402

_env.patch_inspect()
_ENV = _env.prepare()

from paraview.util.vtkAlgorithm import VTKPythonAlgorithmBase, smdomain, smhint, smproperty, smproxy  # noqa: E402
from vtkmodules.vtkCommonCore import vtkDoubleArray  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkPolyData  # noqa: E402
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline  # noqa: E402

from paraview_plugins.vtkconvert import polydata_from_arrays, report_error  # noqa: E402

NETWORK_EXTENSIONS = "data ca"
TRAJECTORY_EXTENSIONS = "h5 hdf5"


def _engine_ready(filename) -> bool:
    if not _ENV.ok:
        report_error(f"cannot read {filename}: " + "; ".join(_ENV.problems))
        return False
    return True


def _stored_frame_arrays(frame):
    """PolyDataArrays of a SnapshotStore frame: extra arrays by row count, time/stress/scalars as field data."""
    from ddml_engine.io.polydata import network_polydata, split_extra

    net = frame.network
    nodes, segments, fields = split_extra(frame.extra, net.num_nodes, net.num_segments)
    fields["time"] = frame.time
    fields["frame_index"] = frame.index
    if frame.stress is not None:
        fields["stress"] = frame.stress
    return network_polydata(net, nodes, segments, fields)


@smproxy.reader(name="ddmlNetworkReader", label="ddml Network Reader",
                extensions=NETWORK_EXTENSIONS, file_description="ddml dislocation network (ParaDiS, OVITO CA)")
class DDMLNetworkReader(VTKPythonAlgorithmBase):
    """A ParaDiS `.data` or OVITO `.ca` network as polylines (ddml_engine.io.read_network)."""

    def __init__(self):
        VTKPythonAlgorithmBase.__init__(self, nInputPorts=0, nOutputPorts=1, outputType="vtkPolyData")
        self._filename = None
        self._burgers_angstrom = 0.0

    @smproperty.stringvector(name="FileName")
    @smdomain.filelist()
    @smhint.filechooser(extensions=NETWORK_EXTENSIONS, file_description="ddml dislocation network")
    def SetFileName(self, name):
        if name != self._filename:
            self._filename = name
            self.Modified()

    @smproperty.doublevector(name="BurgersMagnitudeAngstrom", default_values=0.0)
    @smdomain.doublerange(min=0.0, max=10.0)
    def SetBurgersMagnitudeAngstrom(self, value):
        """For `.ca` files: |b| in Å (0: from the file's lattice)."""
        if value != self._burgers_angstrom:
            self._burgers_angstrom = value
            self.Modified()

    def RequestData(self, request, inInfo, outInfo):
        output = vtkPolyData.GetData(outInfo, 0)
        output.Initialize()
        if not self._filename:
            report_error("ddml Network Reader: no file name given")
            return 0
        if not _engine_ready(self._filename):
            return 0
        try:
            from ddml_engine.io import read_network
            from ddml_engine.io.polydata import network_polydata

            options = {}
            if self._filename.lower().endswith(".ca") and self._burgers_angstrom > 0:
                options["burgers_magnitude_angstrom"] = float(self._burgers_angstrom)
            net = read_network(self._filename, **options)
            polydata_from_arrays(network_polydata(net), output)
        except Exception as exc:  # the message names the file (FileFormatError does so with the line)
            text = str(exc)
            if self._filename not in text:
                text = f"{self._filename}: {text}"
            report_error(f"ddml Network Reader: {type(exc).__name__}: {text}")
            output.Initialize()
            return 0
        return 1


@smproxy.reader(name="ddmlTrajectoryReader", label="ddml Trajectory Reader",
                extensions=TRAJECTORY_EXTENSIONS, file_description="ddml trajectory (HDF5 snapshot store)")
class DDMLTrajectoryReader(VTKPythonAlgorithmBase):
    """Frames of a ddml HDF5 SnapshotStore as time steps (frame times in s); each frame as polylines."""

    def __init__(self):
        VTKPythonAlgorithmBase.__init__(self, nInputPorts=0, nOutputPorts=1, outputType="vtkPolyData")
        self._filename = None
        self._times = []
        self._times_key = None

    @smproperty.stringvector(name="FileName")
    @smdomain.filelist()
    @smhint.filechooser(extensions=TRAJECTORY_EXTENSIONS, file_description="ddml trajectory")
    def SetFileName(self, name):
        if name != self._filename:
            self._filename = name
            self._times_key = None
            self.Modified()

    def _read_times(self):
        """Frame times, cached per (file, modification time, size); reports errors, returns [] on failure."""
        if not self._filename or not _engine_ready(self._filename):
            return []
        try:
            stat = os.stat(self._filename)
            key = (self._filename, stat.st_mtime_ns, stat.st_size)
            if key != self._times_key:
                from ddml_engine.io.store import SnapshotStore

                with SnapshotStore(self._filename, "r") as store:
                    self._times = [float(t) for t in store.times]
                self._times_key = key
        except Exception as exc:
            report_error(f"ddml Trajectory Reader: {type(exc).__name__}: {self._filename}: {exc}")
            self._times, self._times_key = [], None
        return self._times

    @smproperty.doublevector(name="TimestepValues", information_only="1", si_class="vtkSITimeStepsProperty")
    def GetTimestepValues(self):
        return self._read_times() or None

    def RequestInformation(self, request, inInfo, outInfo):
        info = outInfo.GetInformationObject(0)
        info.Remove(vtkStreamingDemandDrivenPipeline.TIME_STEPS())
        info.Remove(vtkStreamingDemandDrivenPipeline.TIME_RANGE())
        times = self._read_times()
        if times:
            info.Set(vtkStreamingDemandDrivenPipeline.TIME_STEPS(), times, len(times))
            info.Set(vtkStreamingDemandDrivenPipeline.TIME_RANGE(), [times[0], times[-1]], 2)
        return 1

    def _frame_index(self, info) -> int:
        """The last frame whose time is <= the requested time (the first frame when none is requested)."""
        import numpy as np

        if not info.Has(vtkStreamingDemandDrivenPipeline.UPDATE_TIME_STEP()):
            return 0
        t = info.Get(vtkStreamingDemandDrivenPipeline.UPDATE_TIME_STEP())
        times = np.asarray(self._times)
        tol = 1e-9 * max(abs(times[-1] - times[0]), np.abs(times).max(), 1e-300)
        return int(max(0, np.searchsorted(times, t + tol, side="right") - 1))

    def RequestData(self, request, inInfo, outInfo):
        output = vtkPolyData.GetData(outInfo, 0)
        output.Initialize()
        times = self._read_times()
        if not times:
            if self._filename and _ENV.ok and self._times_key is not None:
                report_error(f"ddml Trajectory Reader: {self._filename}: the store holds no complete frame")
            return 0
        info = outInfo.GetInformationObject(0)
        index = self._frame_index(info)
        try:
            from ddml_engine.io.store import SnapshotStore

            with SnapshotStore(self._filename, "r") as store:
                frame = store.read(index)
            polydata_from_arrays(_stored_frame_arrays(frame), output)
        except Exception as exc:
            report_error(f"ddml Trajectory Reader: {type(exc).__name__}: {self._filename} (frame {index}): {exc}")
            output.Initialize()
            return 0
        output.GetInformation().Set(output.DATA_TIME_STEP(), times[index])
        return 1
