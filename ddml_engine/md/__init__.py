"""ddml_engine.md: MD ground truth — LAMMPS runs of BCC W with prismatic loops under [001] loading
(`lammps`), their starting crystals (`crystal`, `synthetic`), the tabulated W potential (`potentials`),
DXA extraction into snapshot stores (`extract`) and reports (`report`).

Public API: run_md, write_lammps_input, MDConfig, measure_elastic_constants, extract_trajectory, write_reports.
Imports are lazy so that `import ddml_engine.md` needs neither LAMMPS nor OVITO.
"""
from __future__ import annotations

__all__ = ["MDConfig", "run_md", "write_lammps_input", "measure_elastic_constants", "extract_trajectory",
           "write_reports"]


def __getattr__(name: str):
    if name in ("MDConfig", "run_md", "write_lammps_input", "measure_elastic_constants"):
        from ddml_engine.md import lammps

        return getattr(lammps, name)
    if name == "extract_trajectory":
        from ddml_engine.md.extract import extract_trajectory

        return extract_trajectory
    if name == "write_reports":
        from ddml_engine.md.report import write_reports

        return write_reports
    raise AttributeError(f"module 'ddml_engine.md' has no attribute '{name}'")
