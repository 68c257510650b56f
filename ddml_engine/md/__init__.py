"""ddml_engine.md"""
