"""The routes that take images and videos (remix, edits, characters). They are mounted before
`/videos/{video_id}`, so their literal paths are never read as a video id."""

from app.routes import characters, edits, remix


ROUTERS = (characters.router, edits.router, remix.router)
