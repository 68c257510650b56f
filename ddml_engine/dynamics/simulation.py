"""The DDD simulation driver.

Step order (ParaDiS/ExaDiS): force -> mobility -> integrate -> plastic strain -> collisions -> topology (split
multi-nodes) -> remesh -> loading -> cell deformation (MD-like boxes only) -> output. Forces and mobility are
pluggable; so is the integrator. Hooks are called after every step with the simulation object.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ddml_engine.dynamics.integrators import Integrator
from ddml_engine.dynamics.loading import DeformingCell, Loading, plastic_strain_increment
from ddml_engine.forces.local import voigt_to_tensor
from ddml_engine.forces.model import ForceModel
from ddml_engine.mobility.base import Mobility
from ddml_engine.network import DislocationNetwork

Hook = Callable[["Simulation"], None]


@dataclass
class TopologySettings:
    """Remeshing and collision parameters (units of b). Any of them None disables that operation."""

    maxseg: float | None = None
    minseg: float | None = None
    rann: float | None = None
    split_multinodes: bool = True
    min_loop_length: float | None = None
    #: remesh keeps glide planes (no coarsening across a plane change); ExaDiS enforces them for FCC, not BCC
    glide_planes: bool = True


def adaptive_state(integrator) -> float:
    """The next trial step of an adaptive integrator (0 when it has none): saved with each snapshot."""
    target = getattr(integrator, "base", integrator)
    return float(getattr(target, "dt", 0.0) or 0.0) if hasattr(target, "rtol") else 0.0


@dataclass
class StepRecord:
    step: int
    time: float  # s
    dt: float  # s
    strain: float  # total axial strain (strain-rate control), 0 otherwise
    plastic_strain: float  # axial plastic strain eps_p : A (strain-rate control), 0 otherwise
    stress: np.ndarray  # applied stress, Voigt, Pa
    density: float  # 1/b^2
    nodes: int
    segments: int

    def row(self) -> dict:
        return {"step": self.step, "time_s": self.time, "dt_s": self.dt, "strain": self.strain,
                "plastic_strain": self.plastic_strain,
                **{f"stress_{c}_Pa": s for c, s in zip(("xx", "yy", "zz", "yz", "xz", "xy"), self.stress)},
                "density_per_b2": self.density, "nodes": self.nodes, "segments": self.segments}


@dataclass
class Simulation:
    network: DislocationNetwork
    force_model: ForceModel
    mobility: Mobility
    integrator: Integrator
    loading: Loading
    topology: TopologySettings = field(default_factory=TopologySettings)
    store: object | None = None  # ddml_engine.io.store.SnapshotStore
    output_interval: float | None = None  # s; snapshots land exactly on multiples of it
    hooks: list[Hook] = field(default_factory=list)
    time: float = 0.0
    step_count: int = 0
    plastic_strain_tensor: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    history: list[StepRecord] = field(default_factory=list)
    next_output: float | None = None
    stop_reason: str | None = None  # why run() stopped before its limits (empty network, runaway growth)
    cell_deformation: DeformingCell | None = None  # the cell follows the total strain (MD-like box); None = fixed

    # ------------------------------------------------------------------ stages
    def forces(self, network: DislocationNetwork) -> np.ndarray:
        return self.force_model(network, self.loading.stress())

    def velocities(self, network: DislocationNetwork) -> np.ndarray:
        return self.mobility.velocities(network, self.forces(network))

    def apply_topology(self, network: DislocationNetwork) -> DislocationNetwork:
        from ddml_engine.dynamics import topology as topo

        t = self.topology
        if t.rann:
            network = topo.collide(network, t.rann)
        if t.split_multinodes:
            network = topo.split_multinodes(network, self.forces, self.mobility,
                                             split_distance=2.0 * t.rann if t.rann else 1.0)
        if t.maxseg or t.minseg:
            network = topo.remesh(network, t.maxseg or np.inf, t.minseg or 0.0, t.glide_planes)
        if t.min_loop_length:
            network = topo.remove_tiny_loops(network, t.min_loop_length)
        return network

    def record(self, dt: float) -> StepRecord:
        rec = StepRecord(self.step_count, self.time, dt, float(getattr(self.loading, "strain", 0.0)),
                         float(getattr(self.loading, "plastic_strain", 0.0)), self.loading.stress().copy(),
                         self.network.density(), self.network.num_nodes, self.network.num_segments)
        self.history.append(rec)
        return rec

    def write_snapshot(self) -> None:
        if self.store is not None:
            if self.cell_deformation is not None:  # frames hold the cell of their own strain
                self.network = self.cell_deformation.follow(self.network, self.loading.stress(),
                                                            self.plastic_strain_tensor, exact=True)
            self.store.append(self.network, self.time, self.loading.stress(),
                              strain=float(getattr(self.loading, "strain", 0.0)),
                              plastic_strain=float(getattr(self.loading, "plastic_strain", 0.0)),
                              axial_stress=float(getattr(self.loading, "axial_stress", 0.0)),
                              plastic_strain_tensor=self.plastic_strain_tensor, step=self.step_count,
                              integrator_dt=float(adaptive_state(self.integrator)),
                              cell_strain=(None if self.cell_deformation is None
                                           else self.cell_deformation.cell_strain))

    def restore_integrator(self, trial_dt: float) -> None:
        """Put back the adaptive integrator's next trial step saved with a snapshot (exact restarts)."""
        target = getattr(self.integrator, "base", self.integrator)
        if hasattr(target, "dt") and trial_dt > 0:
            target.dt = float(trial_dt)

    # ------------------------------------------------------------------ stepping
    def step(self) -> StepRecord:
        """One DDD step; returns its record."""
        if self.step_count == 0 and not self.history:
            self.record(0.0)
            if self.output_interval:
                self.write_snapshot()
                self.next_output = self.time + self.output_interval
        dt_limit = None if self.next_output is None else max(self.next_output - self.time, 0.0)
        pre_compute = getattr(self.force_model, "pre_compute", None)
        if pre_compute is not None:  # e.g. the FFT long-range stress, frozen for this step's sub-steps
            pre_compute(self.network)
        result = self.integrator.step(self.network, self.velocities, dt_limit=dt_limit)
        d_eps = plastic_strain_increment(self.network, result.network)
        self.plastic_strain_tensor += d_eps
        network = result.network.wrapped()
        network = self.apply_topology(network)
        self.loading.advance(result.dt, d_eps)
        if self.cell_deformation is not None:
            network = self.cell_deformation.follow(network, self.loading.stress(), self.plastic_strain_tensor)
        self.network = network
        self.time += result.dt
        self.step_count += 1
        rec = self.record(result.dt)
        if self.next_output is not None and self.time >= self.next_output * (1 - 1e-12):
            self.write_snapshot()
            self.next_output += self.output_interval
        for hook in self.hooks:
            hook(self)
        return rec

    def _fraction_done(self, max_steps: int | None, max_strain: float | None, max_time: float | None) -> float:
        """How far the run is towards the limit it will reach first (0..1)."""
        done = [0.0]
        if max_steps:
            done.append(self.step_count / max_steps)
        if max_strain:
            done.append(abs(float(getattr(self.loading, "strain", 0.0))) / max_strain)
        if max_time:
            done.append(self.time / max_time)
        return min(1.0, max(done))

    def run(self, max_steps: int | None = None, max_strain: float | None = None, max_time: float | None = None,
            progress: bool = True, burgers_m: float | None = None, max_nodes: int | None = None) -> list[StepRecord]:
        """Step until any limit is reached (|strain| >= max_strain, time >= max_time, steps >= max_steps), or stop
        early, with the reason in `self.stop_reason` (printed), when the network becomes empty (every line
        annihilated or shrank away) or grows beyond `max_nodes` nodes (runaway multiplication).

        The progress bar counts towards the limit reached first (percent, elapsed < remaining) and shows the
        step, time (ps), strain, the signed largest stress component (MPa, compression negative), nodes and
        density (1/m^2 when `burgers_m` is given)."""
        if max_steps is None and max_strain is None and max_time is None:
            raise ValueError("give at least one of max_steps, max_strain, max_time")
        from tqdm import tqdm

        targets = [t for t in (f"strain {max_strain:g}" if max_strain else "",
                               f"{max_time * 1e12:g} ps" if max_time else "",
                               f"{max_steps} steps" if max_steps else "") if t]
        scale = 1000
        bar = tqdm(total=scale, disable=not progress, dynamic_ncols=True, desc="to " + " or ".join(targets),
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}")
        try:
            while True:
                if max_steps is not None and self.step_count >= max_steps:
                    break
                strain = abs(float(getattr(self.loading, "strain", 0.0)))
                if max_strain is not None and strain >= max_strain:
                    break
                if max_time is not None and self.time >= max_time:
                    break
                rec = self.step()
                bar.update(int(scale * self._fraction_done(max_steps, max_strain, max_time)) - bar.n)
                if rec.segments == 0 and self.stop_reason is None:
                    self.stop_reason = (f"the network is empty at t = {rec.time * 1e12:.4g} ps, step {rec.step} "
                                        "(every line annihilated or shrank away): nothing left to move")
                elif max_nodes and rec.nodes > max_nodes:
                    self.stop_reason = (f"{rec.nodes} nodes at t = {rec.time * 1e12:.4g} ps exceed run.max_nodes = "
                                        f"{max_nodes} (runaway multiplication?)")
                if self.stop_reason:
                    tqdm.write(f"[ddml] stopped: {self.stop_reason}")
                    break
                sigma = float(rec.stress[int(np.argmax(np.abs(rec.stress)))])
                density = (f"{rec.density / burgers_m**2:.3g}/m^2" if burgers_m else f"{rec.density:.3g}/b^2")
                bar.set_postfix_str(f"step {rec.step}, t {rec.time * 1e12:.4g} ps, strain {rec.strain:+.4g}, "
                                    f"sigma {sigma / 1e6:+.4g} MPa, {rec.nodes} nodes, rho {density}",
                                    refresh=False)
        finally:
            bar.close()
        return self.history

    # ------------------------------------------------------------------ outputs
    def write_table(self, path: str | Path, burgers_m: float | None = None) -> None:
        """Stress-strain-density table of every step as CSV (written atomically); units in the column names, with
        the density also in 1/m^2 when `burgers_m` is given."""
        path = Path(path)
        rows = [r.row() for r in self.history]
        if burgers_m:
            for row in rows:
                row["density_per_m2"] = row["density_per_b2"] / burgers_m**2
        from ddml_engine.io._atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def plot(self, path: str | Path, burgers_m: float | None = None) -> None:
        """Axial stress and dislocation density vs strain (PNG, written atomically)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        strain = np.array([r.strain for r in self.history])
        direction = np.asarray(getattr(self.loading, "direction", [0.0, 0.0, 1.0]), float)
        projector = np.outer(direction, direction)
        axial = np.array([np.sum(voigt_to_tensor(r.stress) * projector) for r in self.history]) / 1e6
        density = np.array([r.density for r in self.history])
        if burgers_m:
            density = density / burgers_m**2
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.plot(np.abs(strain) * 100, np.abs(axial))
        ax1.set_xlabel("|axial strain| (%)")
        ax1.set_ylabel("|axial stress| (MPa)")
        ax2.plot(np.abs(strain) * 100, density)
        ax2.set_xlabel("|axial strain| (%)")
        ax2.set_ylabel("dislocation density (1/m²)" if burgers_m else "dislocation density (1/b²)")
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
        fig.tight_layout()
        from ddml_engine.io._atomic import save_figure_atomic

        save_figure_atomic(fig, path, dpi=120)

