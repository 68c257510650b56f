"""ParaView Python plugins for ddml (thin wrappers over ddml_engine)."""
