"""OVITO pipeline modifiers for ddml (thin wrappers over ddml_engine)."""
