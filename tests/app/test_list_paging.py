"""`GET /v1/videos` takes what OpenAI's spec takes: `limit` 0-100 and any string as `after`."""

import warnings

import httpx
from openai import OpenAI


# No worker serves it during this test: the videos stay queued until they are deleted.
MODEL = "tiny-wan-b"


def test_limit_zero_and_cursors_that_name_no_video(api_url):
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    client = OpenAI(base_url=f"{api_url}/v1", api_key="open", max_retries=0)
    older, newer = (client.videos.create(prompt=f"paging {i}", model=MODEL).id for i in range(2))
    try:
        # An empty page that still says whether there is anything to list.
        empty = httpx.get(f"{api_url}/v1/videos", params={"limit": 0}).json()
        assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": True}
        assert client.videos.list(limit=0).data == []

        for cursor in ("not-a-video-id", "video_" + "0" * 32, "x" * 300):
            response = httpx.get(f"{api_url}/v1/videos", params={"after": cursor})
            assert response.status_code == 200, response.text
            assert response.json()["data"] == [] and response.json()["has_more"] is False

        # Real cursors page as before, and the range is still enforced above.
        page = client.videos.list(after=newer, limit=1)
        assert [v.id for v in page.data] == [older]
        too_many = httpx.get(f"{api_url}/v1/videos", params={"limit": 101})
        assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "limit"
        assert httpx.get(f"{api_url}/v1/videos", params={"limit": -1}).status_code == 400
    finally:
        for video_id in (older, newer):
            client.videos.delete(video_id)
