"""ddml_engine.mobility"""
