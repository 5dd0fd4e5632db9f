"""Images and videos a request brings: fetched (URLs), checked (size, type, a real decode),
normalised and stored with the video they condition (storage attempt 0, deleted with it).

The API only decodes to check and to learn sizes; the worker turns the stored inputs into
frames and latents (workers/conditioning).
"""
