"""Model families, the catalog of servable models and (for workers only) the diffusers loader.

Everything importable from here without torch: family specs and the catalog are plain data
that the API validates requests against. Only `models.loader` and `models.tiny` touch torch.
"""
