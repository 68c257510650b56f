"""numpy arrays -> VTK data objects for the ddml ParaView plugins (needs vtkmodules, i.e. ParaView's Python).

polydata_from_arrays: ddml_engine.io.polydata.PolyDataArrays -> vtkPolyData (two-point line cells).
segments_from_polydata: vtkPolyData lines (any polylines) -> segment end points, Burgers vectors, cell.
grid_to_vtk: a periodic (nx, ny, nz, ...) grid on points origin + H idx / n -> vtkImageData (diagonal H) or
vtkStructuredGrid (any H), optionally closed by repeating the idx = 0 planes at idx = n.
"""
from __future__ import annotations

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkOutputWindow, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkFieldData, vtkImageData, vtkPolyData, vtkStructuredGrid

TENSOR_COMPONENTS = ("xx", "xy", "xz", "yx", "yy", "yz", "zx", "zy", "zz")
_VECTOR_COMPONENTS = ("x", "y", "z")


def report_error(message: str) -> None:
    """Show an error in ParaView's Output Messages (stderr under pvpython/pvbatch)."""
    vtkOutputWindow.GetInstance().DisplayErrorText(f"{message}\n")


def vtk_array(name: str, values: np.ndarray, component_names=None):
    """A named VTK data array (deep copy) from a (rows,) or (rows, k) numpy array."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    if arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    out = numpy_support.numpy_to_vtk(np.ascontiguousarray(arr), deep=1)
    out.SetName(name)
    comps = arr.shape[1] if arr.ndim == 2 else 1
    names = component_names or (_VECTOR_COMPONENTS if comps == 3 else TENSOR_COMPONENTS if comps == 9 else None)
    if names and len(names) == comps:
        for k, label in enumerate(names):
            out.SetComponentName(k, label)
    return out


def _set_field_data(data_object, field_data: dict) -> None:
    fd = vtkFieldData()
    for name, values in field_data.items():
        fd.AddArray(vtk_array(name, np.asarray(values).reshape(1, -1)))
    data_object.SetFieldData(fd)


def polydata_from_arrays(arrays, output: vtkPolyData | None = None) -> vtkPolyData:
    """Fill (or create) a vtkPolyData from PolyDataArrays: points, one line cell per (M, 2) row, arrays."""
    pd = output if output is not None else vtkPolyData()
    pd.Initialize()
    points = vtkPoints()
    points.SetData(numpy_support.numpy_to_vtk(np.ascontiguousarray(arrays.points, dtype=np.float64), deep=1))
    pd.SetPoints(points)
    m = len(arrays.lines)
    cells = vtkCellArray()
    offsets = numpy_support.numpy_to_vtkIdTypeArray(np.arange(0, 2 * m + 1, 2, dtype=np.int64), deep=1)
    conn = numpy_support.numpy_to_vtkIdTypeArray(np.ascontiguousarray(arrays.lines.reshape(-1), dtype=np.int64),
                                                 deep=1)
    cells.SetData(offsets, conn)
    pd.SetLines(cells)
    for name, values in arrays.point_data.items():
        pd.GetPointData().AddArray(vtk_array(name, values))
    for name, values in arrays.cell_data.items():
        pd.GetCellData().AddArray(vtk_array(name, values))
    if arrays.active_point_scalars:
        pd.GetPointData().SetActiveScalars(arrays.active_point_scalars)
    _set_field_data(pd, arrays.field_data)
    return pd


def field_array(data_object, name: str) -> np.ndarray | None:
    fd = data_object.GetFieldData()
    arr = fd.GetArray(name) if fd is not None else None
    return None if arr is None else numpy_support.vtk_to_numpy(arr)


def segments_from_polydata(pd: vtkPolyData, burgers_name: str = "burgers"):
    """(x1 (S, 3), x2 (S, 3), b (S, 3), cell_matrix (3, 3), cell_origin (3,)) from a network's polydata.

    Every line cell (polyline) contributes its consecutive point pairs with the cell's Burgers vector; the
    cell comes from the field data arrays cell_matrix (row-major, columns = cell vectors) and cell_origin.
    Raises ValueError naming what is missing.
    """
    matrix, origin = field_array(pd, "cell_matrix"), field_array(pd, "cell_origin")
    if matrix is None or origin is None:
        raise ValueError("input has no cell_matrix/cell_origin field data (use a ddml reader or a ddml .vtp)")
    burgers = pd.GetCellData().GetArray(burgers_name)
    if burgers is None or burgers.GetNumberOfComponents() != 3:
        raise ValueError(f"input has no 3-component cell array '{burgers_name}'")
    lines = pd.GetLines()
    if pd.GetNumberOfCells() != lines.GetNumberOfCells():
        raise ValueError("input cells must all be lines (no vertices or polygons)")
    points = numpy_support.vtk_to_numpy(pd.GetPoints().GetData()).astype(np.float64) if pd.GetPoints() \
        else np.zeros((0, 3))
    b_cells = numpy_support.vtk_to_numpy(burgers).astype(np.float64).reshape(-1, 3)
    offsets = numpy_support.vtk_to_numpy(lines.GetOffsetsArray()).astype(np.int64)
    conn = numpy_support.vtk_to_numpy(lines.GetConnectivityArray()).astype(np.int64)
    counts = np.diff(offsets)
    pairs = np.maximum(counts - 1, 0)
    cell_of_pair = np.repeat(np.arange(len(counts)), pairs)
    first = np.repeat(offsets[:-1], pairs) + (np.arange(pairs.sum()) - np.repeat(np.cumsum(pairs) - pairs, pairs))
    x1, x2 = points[conn[first]], points[conn[first + 1]]
    return x1, x2, b_cells[cell_of_pair], np.asarray(matrix, float).reshape(3, 3), np.asarray(origin, float).reshape(3)


def _closed_indices(n: int, close: bool) -> np.ndarray:
    return np.arange(n + 1) % n if close else np.arange(n)


def grid_to_vtk(arrays: dict[str, np.ndarray], matrix: np.ndarray, origin: np.ndarray, structured: bool,
                close: bool, field_data: dict | None = None, output=None):
    """Point data on the grid origin + H idx / n (arrays shaped (nx, ny, nz, ...)) as VTK data.

    structured=False: vtkImageData (H must be diagonal: spacing H_aa / n_a); True: vtkStructuredGrid with
    explicit points (any cell). close=True repeats the idx = 0 planes at idx = n so the grid spans the cell.
    """
    H = np.asarray(matrix, float).reshape(3, 3)
    o = np.asarray(origin, float).reshape(3)
    shape = next(iter(arrays.values())).shape[:3]
    idx = [_closed_indices(n, close) for n in shape]
    dims = [len(i) for i in idx]
    if structured:
        grid = output if output is not None else vtkStructuredGrid()
        grid.Initialize()
        frac = np.stack(np.meshgrid(idx[0] / shape[0], idx[1] / shape[1], idx[2] / shape[2], indexing="ij"), -1)
        frac[..., 0] += (np.arange(dims[0]) // shape[0])[:, None, None]  # closing plane at s = 1, not 0
        frac[..., 1] += (np.arange(dims[1]) // shape[1])[None, :, None]
        frac[..., 2] += (np.arange(dims[2]) // shape[2])[None, None, :]
        pts = (frac @ H.T + o).transpose(2, 1, 0, 3).reshape(-1, 3)
        points = vtkPoints()
        points.SetData(numpy_support.numpy_to_vtk(np.ascontiguousarray(pts), deep=1))
        grid.SetDimensions(*dims)
        grid.SetPoints(points)
    else:
        off_diagonal = H - np.diag(np.diag(H))
        if np.abs(off_diagonal).max() > 1e-12 * np.abs(H).max():
            raise ValueError("the cell is not orthogonal and axis-aligned; choose the structured-grid output")
        grid = output if output is not None else vtkImageData()
        grid.Initialize()
        grid.SetDimensions(*dims)
        grid.SetOrigin(*o)
        grid.SetSpacing(*(np.diag(H) / np.asarray(shape)))
    npts = int(np.prod(dims))
    for name, values in arrays.items():
        v = np.asarray(values)[np.ix_(*idx)]  # (d0, d1, d2, ...) with the closing planes
        v = v.transpose(2, 1, 0, *range(3, v.ndim))  # VTK order: x index fastest
        grid.GetPointData().AddArray(vtk_array(name, v.reshape(npts) if v.ndim == 3 else v.reshape(npts, -1)))
    if "nye_norm" in arrays:
        grid.GetPointData().SetActiveScalars("nye_norm")  # ParaView colours the default slice by |alpha|
    _set_field_data(grid, field_data or {})
    return grid
