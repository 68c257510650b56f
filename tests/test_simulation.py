"""DDD simulation driver: motion at the mobility law's speed, loop stability, Frank-Read sources, reactions."""
import numpy as np
import pytest

from ddml_engine.dynamics.integrators import EulerIntegrator, TrapezoidIntegrator
from ddml_engine.dynamics.loading import StressControl
from ddml_engine.dynamics.simulation import Simulation, TopologySettings
from ddml_engine.forces.local import core_energy, shear_stress
from ddml_engine.forces.model import LineTensionModel
from ddml_engine.geometry import circular_loop, line_direction, straight_line
from ddml_engine.materials import material
from ddml_engine.mobility.bcc import BCCLinearMobility
from ddml_engine.mobility.glide import GlideMobility
from ddml_engine.network import Cell

W = material("W")
B = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
PLANE = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
NO_TOPOLOGY = TopologySettings(split_multinodes=False)


def loop_area_vector(network) -> np.ndarray:
    """Right-handed area vector of a single closed loop (nodes in segment order)."""
    x1, x2 = network.segment_endpoints()
    ref = x1[0]
    return 0.5 * np.cross(x1 - ref, x2 - ref).sum(axis=0)


@pytest.mark.parametrize("character, mobility, maxdt", [(90.0, 2600.0, 1e-12), (0.0, 20.0, 1e-10)])
def test_straight_line_moves_at_the_mobility_law_speed(character, mobility, maxdt):
    tau = 50e6
    t = line_direction(B, PLANE, character)
    line = straight_line(200.0, t, B, PLANE, 8)
    # maxdt resolves the fastest line-tension (zig-zag) mode, M T k^2 dt < 1, so round-off does not grow.
    sim = Simulation(line, LineTensionModel(W), BCCLinearMobility(), TrapezoidIntegrator(maxdt=maxdt, rtol=0.1),
                     StressControl(shear_stress(tau, B, PLANE)), NO_TOPOLOGY)
    sim.run(max_steps=200, progress=False)
    displacement = sim.network.cell.minimum_image(sim.network.positions - line.positions)
    glide_direction = np.cross(PLANE, t)  # PK force direction n x xi for tau > 0 (see shear_stress)
    expected = mobility * tau * 1.0 * sim.time  # V = M tau b, |b| = 1
    assert expected > 10.0
    # Exact up to round-off amplified by the drag matrix's condition number (B_climb / B_line ~ 1e9).
    assert np.allclose(displacement, expected * glide_direction, rtol=0, atol=1e-6 * expected)


def test_glide_loop_shrinks_below_and_expands_above_its_line_tension_stress():
    """Equilibrium of a circular loop: tau_c b = E_bar / R with E_bar the mean core energy per length."""
    radius = 60.0
    loop = circular_loop(np.zeros(3), radius, PLANE, B, 48, Cell.cubic(1000.0, centered=True))
    e_bar = core_energy(loop, W.Ec, W.nu) / loop.total_length()
    tau_c = e_bar / radius
    areas = {}
    # The PK force tau b (n x xi) points inward on a loop whose line sense is counter-clockwise about n
    # (circular_loop's convention) for tau > 0: expansion needs tau < 0.
    for factor in (-0.5, -2.0):
        sim = Simulation(loop, LineTensionModel(W), GlideMobility(M=1000.0), EulerIntegrator(maxdt=1e-12),
                         StressControl(shear_stress(factor * tau_c, B, PLANE)), NO_TOPOLOGY)
        sim.run(max_steps=20, progress=False)
        areas[factor] = np.linalg.norm(loop_area_vector(sim.network))
    a0 = np.linalg.norm(loop_area_vector(loop))
    assert areas[-0.5] < a0 < areas[-2.0]
