"""Time integrators for over-damped DDD: dx/dt = V(x).

`velocity_fn(network) -> (N, 3)` evaluates forces and mobility (any mobility, learned ones included).
The adaptive trapezoid scheme follows ParaDiS/ExaDiS: Euler predictor, at most `max_iterations` trapezoid
corrector iterations x1 = x0 + dt/2 (v0 + v1), error = max_i |x1 - x0 - dt/2 (v0 + v1)| compared with `rtol`
(units of b); on failure dt is halved, after a success it grows by `increase` up to `maxdt`.
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
    velocities: np.ndarray  # velocities used for the final update (N, 3), b/s
    evaluations: int  # number of velocity evaluations in this step


class Integrator(Protocol):
    def step(self, network: DislocationNetwork, velocity_fn: VelocityFn,
             dt_limit: float | None = None) -> StepResult:
        """Advance the network by one time step of at most `dt_limit` (e.g. to land on an output time)."""


@dataclass
class EulerIntegrator:
    """Explicit Euler x1 = x0 + dt v0; dt = min(maxdt, max_displacement / max|v0|) when max_displacement is set."""

    maxdt: float
    max_displacement: float | None = None

    def step(self, network: DislocationNetwork, velocity_fn: VelocityFn,
             dt_limit: float | None = None) -> StepResult:
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
             dt_limit: float | None = None) -> StepResult:
        x0 = network.positions
        v0 = velocity_fn(network)
        evaluations = 1
        trial = self.dt if self.dt > 0.0 else self.maxdt
        dt = trial if dt_limit is None else min(trial, dt_limit)
        while True:
            x1 = x0 + dt * v0
            for _ in range(self.max_iterations):
                v1 = velocity_fn(network.with_positions(x1))
                evaluations += 1
                update = 0.5 * dt * (v0 + v1)
                error = float(np.max(np.linalg.norm(x1 - x0 - update, axis=1), initial=0.0))
                x1 = x0 + update
                if error < self.rtol:
                    # A step shortened only by dt_limit does not shrink the next trial step.
                    self.dt = trial if dt < trial and dt == dt_limit else min(self.maxdt, dt * self.increase)
                    return StepResult(network.with_positions(x1), dt, 0.5 * (v0 + v1), evaluations)
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

    def step(self, network: DislocationNetwork, velocity_fn: VelocityFn,
             dt_limit: float | None = None) -> StepResult:
        total, evaluations, current, result = 0.0, 0, network, None
        for _ in range(self.substeps):
            remaining = None if dt_limit is None else dt_limit - total
            if remaining is not None and remaining <= 0.0:
                break
            result = self.base.step(current, velocity_fn, remaining)
            current, total, evaluations = result.network, total + result.dt, evaluations + result.evaluations
            if total >= self.maxdt:
                break
        if result is None:  # dt_limit was already reached
            return StepResult(network, 0.0, np.zeros_like(network.positions), 0)
        return StepResult(current, total, result.velocities, evaluations)
