"""ddml_engine.dynamics"""
