"""The routes that take images and videos (remix, edits, characters, extensions, transitions).
They are mounted before `/videos/{video_id}`, so their literal paths are never read as a video id."""

from app.routes import characters, edits, extensions, remix, transitions


ROUTERS = (characters.router, edits.router, remix.router, extensions.router, transitions.router)
