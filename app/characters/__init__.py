"""Characters: a named subject (from a video) that prompts can mention by name.

A character is described once (the LLM with image input when one is configured, else the
embedded model's analyzer) and keeps a reference frame; a prompt that names it gets the
description in its place (app/expansion/characters.py), and models with reference
conditioning also get the frame (workers/conditioning). Characters belong to a tenant.
"""
