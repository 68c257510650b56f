"""ddml_engine.io"""
