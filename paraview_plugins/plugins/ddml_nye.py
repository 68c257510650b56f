"""ParaView plugin: Nye dislocation-density tensor of a network on a voxel grid of its periodic cell.

  ddml Nye Tensor Field   network polylines (a ddml reader's output, a frame of a trajectory, or a ddml `.vtp`)
                          -> point data on the grid origin + H idx / n (the engine's grid):
     nye_norm      Frobenius norm |alpha| (1/b): the active scalars, and first by name, so that Apply shows a
                   slice coloured by it (ParaView colours image data by its alphabetically first array)
     nye_tensor    9 components alpha_ij (row-major: xx xy xz yx ...), units 1/b (ddml_engine.nye.nye_field)
     scalar_line_density  total line length per volume rho = sum_seg int w(x - x(s)) ds (1/b^2), the same
                   kernel; computed as trace(alpha) with b replaced by the unit tangent of each segment

alpha_ij(x) = sum_seg int b_i t_j w(x - x(s)) ds (Bertin, Bulatov & Zhou 2024, Eq. 5), evaluated spectrally and
exactly by the engine (ddml_engine.nye): the values equal network_nye_field(network, n, sigma, kernel) to
round-off. Properties: Resolution n (per axis), Sigma (kernel width in b; 0 = two grid spacings of the
shortest cell vector), Kernel (gaussian, nonsingular), CloseCell (repeat the idx = 0 planes at idx = n so the
grid spans the whole periodic cell), Output (image data for orthogonal axis-aligned cells; structured grid
for any cell, e.g. sheared). Segment end points may be unwrapped: the field is periodic.
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
from vtkmodules.vtkCommonDataModel import vtkDataObject, vtkImageData, vtkPolyData, vtkStructuredGrid  # noqa: E402
from vtkmodules.vtkCommonExecutionModel import vtkStreamingDemandDrivenPipeline  # noqa: E402

from paraview_plugins.vtkconvert import grid_to_vtk, report_error, segments_from_polydata  # noqa: E402

KERNELS = ("gaussian", "nonsingular")


def nye_arrays(x1, x2, b, matrix, origin, n: int, sigma: float, kernel: str, density: bool = True):
    """{'nye_norm': (n,n,n), 'nye_tensor': (n,n,n,3,3), 'scalar_line_density': (n,n,n)} (engine's nye_field)."""
    import numpy as np
    import torch

    from ddml_engine.nye import nye_field

    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    with torch.no_grad():
        alpha = nye_field(t(x1), t(x2), t(b), t(matrix), t(origin), n, sigma, kernel).numpy()
        out = {"nye_norm": np.sqrt((alpha**2).sum(axis=(-2, -1))), "nye_tensor": alpha}
        if density:
            d = np.asarray(x2, float) - np.asarray(x1, float)
            tangent = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-300)
            rho = nye_field(t(x1), t(x2), t(tangent), t(matrix), t(origin), n, sigma, kernel).numpy()
            out["scalar_line_density"] = np.trace(rho, axis1=-2, axis2=-1)
    return out


@smproxy.filter(name="ddmlNyeTensorField", label="ddml Nye Tensor Field")
@smhint.xml('<ShowInMenu category="ddml" />')
@smhint.xml('<RepresentationType view="RenderView" type="Slice" />')  # not a bare outline: a slice of |alpha|
@smproperty.input(name="Input", port_index=0)
@smdomain.datatype(dataTypes=["vtkPolyData"], composite_data_supported=False)
class DDMLNyeTensorField(VTKPythonAlgorithmBase):
    """Voxel grid of the Nye tensor, its norm and the line density of an input network (module docstring)."""

    def __init__(self):
        VTKPythonAlgorithmBase.__init__(self, nInputPorts=1, inputType="vtkPolyData", nOutputPorts=1,
                                        outputType="vtkImageData")
        self._n = 32
        self._sigma = 0.0
        self._kernel = 0
        self._close = 1
        self._structured = 0
        self._density = 1

    def _set(self, attr, value):
        if getattr(self, attr) != value:
            setattr(self, attr, value)
            self.Modified()

    @smproperty.intvector(name="Resolution", default_values=32)
    @smdomain.intrange(min=2, max=256)
    def SetResolution(self, n):
        """Grid points per cell vector."""
        self._set("_n", int(n))

    @smproperty.doublevector(name="Sigma", default_values=0.0)
    @smdomain.doublerange(min=0.0, max=1000.0)
    def SetSigma(self, sigma):
        """Kernel width in b (Gaussian sigma or non-singular core radius); 0: two grid spacings."""
        self._set("_sigma", float(sigma))

    @smproperty.xml("""<IntVectorProperty name="Kernel" command="SetKernel" number_of_elements="1"
        default_values="0"><EnumerationDomain name="enum"><Entry value="0" text="gaussian"/>
        <Entry value="1" text="nonsingular"/></EnumerationDomain>
        <Documentation>Spreading kernel w of the line integral.</Documentation></IntVectorProperty>""")
    def SetKernel(self, k):
        self._set("_kernel", int(k))

    @smproperty.xml("""<IntVectorProperty name="CloseCell" command="SetCloseCell" number_of_elements="1"
        default_values="1"><BooleanDomain name="bool"/>
        <Documentation>Repeat the first grid planes at the far faces so the grid spans the periodic cell.
        </Documentation></IntVectorProperty>""")
    def SetCloseCell(self, value):
        self._set("_close", int(value))

    @smproperty.xml("""<IntVectorProperty name="LineDensity" command="SetLineDensity" number_of_elements="1"
        default_values="1"><BooleanDomain name="bool"/>
        <Documentation>Also compute the scalar line density (doubles the cost).</Documentation>
        </IntVectorProperty>""")
    def SetLineDensity(self, value):
        self._set("_density", int(value))

    @smproperty.xml("""<IntVectorProperty name="Output" command="SetOutput" number_of_elements="1"
        default_values="0"><EnumerationDomain name="enum"><Entry value="0" text="Image data (orthogonal cell)"/>
        <Entry value="1" text="Structured grid (any cell)"/></EnumerationDomain>
        <Documentation>vtkImageData needs an axis-aligned orthogonal cell; use the structured grid for
        sheared cells.</Documentation></IntVectorProperty>""")
    def SetOutput(self, value):
        self._set("_structured", int(value))

    def RequestDataObject(self, request, inInfo, outInfo):
        wanted = vtkStructuredGrid if self._structured else vtkImageData
        info = outInfo.GetInformationObject(0)
        current = info.Get(vtkDataObject.DATA_OBJECT())
        if current is None or not current.IsA(wanted.__name__):
            info.Set(vtkDataObject.DATA_OBJECT(), wanted())
        return 1

    def RequestInformation(self, request, inInfo, outInfo):
        """Whole extent 0..n-1 (0..n with CloseCell) per axis; time steps pass through from the input."""
        last = self._n - 1 + (1 if self._close else 0)
        info = outInfo.GetInformationObject(0)
        info.Set(vtkStreamingDemandDrivenPipeline.WHOLE_EXTENT(), (0, last, 0, last, 0, last), 6)
        return 1

    def FillOutputPortInformation(self, port, info):
        info.Set(vtkDataObject.DATA_TYPE_NAME(), "vtkDataSet")
        return 1

    def RequestData(self, request, inInfo, outInfo):
        output = outInfo.GetInformationObject(0).Get(vtkDataObject.DATA_OBJECT())
        output.Initialize()
        source = vtkPolyData.GetData(inInfo[0], 0)
        if not _ENV.ok:
            report_error("ddml Nye Tensor Field: " + "; ".join(_ENV.problems))
            return 0
        try:
            import numpy as np

            x1, x2, b, matrix, origin = segments_from_polydata(source)
            n = self._n
            if self._sigma > 0:
                sigma = self._sigma
            else:
                sigma = 2.0 * float(np.linalg.norm(matrix, axis=0).min()) / n
            kernel = KERNELS[self._kernel]
            arrays = nye_arrays(x1, x2, b, matrix, origin, n, sigma, kernel, bool(self._density))
            fields = {"cell_matrix": matrix.reshape(9), "cell_origin": origin, "sigma": sigma, "resolution": n}
            grid_to_vtk(arrays, matrix, origin, bool(self._structured), bool(self._close), fields, output)
        except Exception as exc:
            report_error(f"ddml Nye Tensor Field: {type(exc).__name__}: {exc}")
            output.Initialize()
            return 0
        return 1
