"""ddml_engine.forces"""
