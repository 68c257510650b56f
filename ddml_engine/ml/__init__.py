"""ddml_engine.ml"""
