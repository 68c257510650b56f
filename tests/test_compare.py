"""`ddml compare`: MD tables and DDD runs overlaid, flow stress over the last quarter of strain, T/C ratios and
differences to MD, checked against direct evaluation on synthetic MD curves and two small DDD runs."""
import csv
import json

import numpy as np
import pytest

from ddml_engine.cli import main


def write_md(prefix, sign, flow_gpa):
    """An MD-like curve: elastic to 1 %, then a plateau at `flow_gpa`; density rising linearly."""
    strain = sign * np.linspace(0, 0.04, 81)
    stress = sign * np.minimum(np.abs(strain) * 400.0, flow_gpa)
    with open(f"{prefix}_stress_strain.csv", "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["time_ps", "true_strain", "sigma_xx_GPa", "sigma_yy_GPa", "sigma_zz_GPa", "sigma_yz_GPa",
                    "sigma_xz_GPa", "sigma_xy_GPa", "temperature_K"])
        for e, s in zip(strain, stress):
            w.writerow([0, e, 0, 0, s, 0, 0, 0, 300])
    with open(f"{prefix}_density.csv", "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["time_ps", "strain", "density_m2"])
        for e in strain[::10]:
            w.writerow([0, e, 1e16 * (1 + 10 * abs(e))])


def test_compare_md_and_ddd(tmp_path, capsys):
    write_md(tmp_path / "md_T", 1.0, 4.0)
    write_md(tmp_path / "md_C", -1.0, 5.0)
    runs = {}
    for loading, rate in (("T", 2e9), ("C", -2e9)):
        runs[loading] = tmp_path / f"ddd_{loading}"
        assert main(["simulate", "--output-dir", str(runs[loading]), "--no-progress", "--set", "run.max_steps=4",
                     "--set", "cell.size=100.0", "--set", "initial.count=2", "--set", "initial.radius=20.0",
                     "--set", 'forces.model="line-tension"', "--set", f"loading.rate={rate}"]) == 0
    out = tmp_path / "cmp"
    assert main(["compare", "--md", f"T={tmp_path / 'md_T'}", "--md", f"C={tmp_path / 'md_C'}",
                 "--linear", f"T={runs['T']}", "--linear", f"C={runs['C']}", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    flows = {(c["source"], c["loading"]): c["flow_stress_gpa"] for c in summary["curves"]}
    assert flows[("MD", "T")] == pytest.approx(4.0) and flows[("MD", "C")] == pytest.approx(-5.0)
    assert summary["tension_compression_ratio"]["MD"] == pytest.approx(0.8)
    with open(runs["T"] / "table.csv") as handle:
        rows = list(csv.DictReader(handle))
    e = np.abs([float(r["strain"]) for r in rows])
    s = np.array([float(r["stress_zz_Pa"]) for r in rows]) / 1e9
    assert flows[("DDD linear", "T")] == pytest.approx(s[e >= 0.75 * e.max()].mean())
    diff = summary["relative_difference_to_md"]["DDD linear T"]["flow_stress"]
    assert diff == pytest.approx((abs(flows[("DDD linear", "T")]) - 4.0) / 4.0)
    assert (out / "compare.png").stat().st_size > 10_000 and len((out / "compare.csv").read_text().splitlines()) == 5
    capsys.readouterr()
    assert main(["compare", "--md", f"X={tmp_path / 'md_T'}", "-o", str(out)]) == 1
    assert "write T=PATH (tension) or C=PATH (compression)" in capsys.readouterr().err
