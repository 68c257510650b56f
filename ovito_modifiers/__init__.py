"""OVITO pipeline modifiers that annotate DXA dislocation networks with ddml's engine: DDD forces, GNN velocities,
Nye-tensor grids and the next-frame Nye check (the training loss of Eq. 5 made visible).

Registered as OVITO modifiers through the `OVITO.Modifier` entry points of the ddml package. Thin: all physics
comes from `ddml_engine`. Put a 'Dislocation analysis (DXA)' modifier (BCC) before them in the pipeline.
"""
from ovito_modifiers._common import DDMLModifierError
from ovito_modifiers.forces import DDDForcesModifier
from ovito_modifiers.next_frame import NextFrameCheckModifier
from ovito_modifiers.nye_grid import NyeGridModifier
from ovito_modifiers.velocities import GNNVelocitiesModifier

__all__ = ["DDMLModifierError", "DDDForcesModifier", "GNNVelocitiesModifier", "NyeGridModifier",
           "NextFrameCheckModifier"]
