"""Time integrators for over-damped DDD: dx/dt = V(x).

`velocity_fn(network) -> (N, 3)` evaluates forces and mobility (any mobility, learned ones included).
The adaptive trapezoid scheme follows ExaDiS (`IntegratorTrapezoid`, `IntegratorMulti`): Euler predictor
x1 = x0 + dt v0, then at most `max_iterations` evaluations v1 = V(x1) with the error
e = max_i max_c |x1 - x0 - dt/2 (v0 + v1)| (largest Cartesian component, units of b); the first x1 with e < rtol
is accepted, otherwise x1 <- x0 + dt/2 (v0 + v1) and V is evaluated again. When no iteration converges dt is
halved and the step retried. The next step grows by `increase` (up to `maxdt`) only after a step whose first
iteration converged, else it keeps dt. The accepted position is the last point where V was evaluated, so V(x1)
is the first velocity of the next sub-step ("first same as last"): a sub-step costs one evaluation when its
first iteration converges, and `MultiStepIntegrator` evaluates V afresh only once per DDD step (after topology
changes), as ExaDiS does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from ddml_engine.network import DislocationNetwork

VelocityFn = Callable[[DislocationNetwork], np.ndarray]


@dataclass
class StepResult:
    network: DislocationNetwork  # network at t + dt (same topology as the input)
    dt: float  # time step taken (s)
    velocities: np.ndarray  # (N, 3) b/s; trapezoid: V at the final positions (the next step's first), Euler: v0
    evaluations: int  # number of velocity evaluations in this step


class Integrator(Protocol):
    def step(self, network: DislocationNetwork, velocity_fn: VelocityFn,
             dt_limit: float | None = None, start_velocities: np.ndarray | None = None) -> StepResult:
        """Advance the network by one time step of at most `dt_limit` (e.g. to land on an output time);
        `start_velocities` = V(network) when the caller already has it (saves an evaluation)."""


@dataclass
class EulerIntegrator:
    """Explicit Euler x1 = x0 + dt v0; dt = min(maxdt, max_displacement / max|v0|) when max_displacement is set."""

    maxdt: float
    max_displacement: float | None = None

    def step(self, network: DislocationNetwork, velocity_fn: VelocityFn,
             dt_limit: float | None = None, start_velocities: np.ndarray | None = None) -> StepResult:
        v0 = velocity_fn(network)
        dt = self.maxdt if dt_limit is None else min(self.maxdt, dt_limit)
        vmax = float(np.max(np.linalg.norm(v0, axis=1), initial=0.0))
        if self.max_displacement and vmax > 0.0:
            dt = min(dt, self.max_displacement / vmax)
        return StepResult(network.with_positions(network.positions + dt * v0), dt, v0, 1)


@dataclass
class TrapezoidIntegrator:
    """Adaptive trapezoid predictor-corrector (ExaDiS `IntegratorTrapezoid` scheme)."""

    maxdt: float
    rtol: float = 1.0
    max_iterations: int = 2
    increase: float = 1.2
    min_dt: float = 1e-20
    dt: float = field(default=0.0)  # the next step to try; starts at maxdt

    def step(self, network: DislocationNetwork, velocity_fn: VelocityFn,
             dt_limit: float | None = None, start_velocities: np.ndarray | None = None) -> StepResult:
        x0 = network.positions
        evaluations = 0
        if start_velocities is None:
            v0 = velocity_fn(network)
            evaluations += 1
        else:
            v0 = start_velocities
        trial = self.dt if self.dt > 0.0 else self.maxdt
        dt = trial if dt_limit is None else min(trial, dt_limit)
        first_try = True
        while True:
            x1 = x0 + dt * v0
            for iteration in range(self.max_iterations):
                moved = network.with_positions(x1)
                v1 = velocity_fn(moved)
                evaluations += 1
                update = 0.5 * dt * (v0 + v1)
                error = float(np.max(np.abs(x1 - x0 - update), initial=0.0))
                if error < self.rtol:
                    if not (first_try and iteration == 0):
                        self.dt = dt  # ExaDiS: no growth after a step that needed a correction
                    elif dt < trial and dt == dt_limit:
                        self.dt = trial  # a step shortened only by dt_limit does not shrink the next one
                    else:
                        self.dt = min(self.maxdt, dt * self.increase)
                    return StepResult(moved, dt, v1, evaluations)
                x1 = x0 + update
            first_try = False
            dt *= 0.5
            if dt < self.min_dt:
                raise RuntimeError(f"trapezoid integrator: time step fell below {self.min_dt:g} s "
                                   f"(error {error:.3g} b > rtol {self.rtol:g} b); velocities may be diverging")


@dataclass
class MultiStepIntegrator:
    """`substeps` steps of a base integrator in a row between topology operations (ExaDiS `IntegratorMulti`),
    stopping early once their total reaches `maxdt`. The result spans all sub-steps."""

    base: Integrator
    substeps: int = 10
    maxdt: float = float("inf")
    #: pass each sub-step's final velocities on as the next one's first (exact for the trapezoid, whose
    #: final position is where they were evaluated; the Euler integrator re-evaluates anyway)
    reuse_velocities: bool = True

    def step(self, network: DislocationNetwork, velocity_fn: VelocityFn,
             dt_limit: float | None = None, start_velocities: np.ndarray | None = None) -> StepResult:
        total, evaluations, current, result = 0.0, 0, network, None
        velocities = start_velocities
        for _ in range(self.substeps):
            remaining = None if dt_limit is None else dt_limit - total
            if remaining is not None and remaining <= 0.0:
                break
            result = self.base.step(current, velocity_fn, remaining, start_velocities=velocities)
            current, total, evaluations = result.network, total + result.dt, evaluations + result.evaluations
            velocities = result.velocities if self.reuse_velocities else None
            if total >= self.maxdt:
                break
        if result is None:  # dt_limit was already reached
            return StepResult(network, 0.0, np.zeros_like(network.positions), 0)
        return StepResult(current, total, result.velocities, evaluations)
