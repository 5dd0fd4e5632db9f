"""The web studio: one page, its stylesheet and script, served by the API at `/`.

Plain files from this package (no build step, nothing fetched from elsewhere); the page talks to
the public API like any other client. The files themselves hold no data, so they need no key.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles


STATIC = Path(__file__).parent / "static"
# The page runs only its own script and shows only this server's images and videos.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; media-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def install_studio(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def studio_page() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    app.mount("/studio", StaticFiles(directory=STATIC), name="studio")
