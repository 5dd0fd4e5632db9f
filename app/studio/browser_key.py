"""The API key of a browser's event stream or download, which can't carry a header.

`EventSource` and `<video src>` send no `Authorization` header, so for GETs of a video's events
and content only, the key may come as the `api_key` query parameter or the `t2v_api_key` cookie
(which the studio sets `SameSite=Strict`, so other sites' pages can't send it). It is then
checked exactly like a header key (app/auth.py: constant-time, revocation at once).
"""

from starlette.requests import Request


QUERY_PARAMETER = "api_key"
COOKIE = "t2v_api_key"
_BROWSER_PATHS = ("/events", "/content")


def browser_key(request: Request) -> str | None:
    if request.method != "GET" or not request.url.path.endswith(_BROWSER_PATHS):
        return None
    return request.query_params.get(QUERY_PARAMETER) or request.cookies.get(COOKIE) or None
