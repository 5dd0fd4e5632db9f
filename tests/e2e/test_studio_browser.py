"""The web studio in a real browser: Debian's Chromium, headless, driven by Selenium, against the
real API and a real render worker. Screenshots of each state go to the test's folder (and to
$T2V_SCREENSHOT_DIR when set)."""

import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.event_fixtures import IDLE, RENDERED, create, events_worker  # noqa: F401 (a fixture)
from tests.support import wait_until


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="no Chromium: apt-get install -y chromium chromium-driver (.ci/run does)",
)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def screenshot(driver, folder: Path, name: str, showing=None) -> None:
    if showing is not None:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", showing)
    path = folder / f"studio-{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("T2V_SCREENSHOT_DIR"):
        shutil.copy(path, Path(os.environ["T2V_SCREENSHOT_DIR"]) / path.name)


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def wait_for_model(driver) -> None:
    """Until the page has loaded the models (its form then offers the test's)."""
    wait_until(
        lambda: js(
            driver,
            "return [...document.querySelectorAll('#model option')].some(o => o.value === arguments[0])",
            RENDERED,
        ),
        what="the model list",
    )


@pytest.mark.usefixtures("events_worker")
def test_type_a_prompt_watch_it_render_play_it_and_delete_it(browser, api_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    # Videos that stay queued (no worker serves their model) fill every live-stream slot the page
    # has: the video made here must still stream, so its bar moves with every step.
    waiting = [create(api_url, IDLE, prompt=f"waiting {n}")["id"] for n in range(5)]
    browser.get(f"{api_url}/")
    wait_for_model(browser)
    Select(browser.find_element(By.ID, "model")).select_by_value(RENDERED)
    browser.find_element(By.ID, "prompt").send_keys("a red ball rolling left")
    screenshot(browser, tmp_path, "1-form")
    wait_until(lambda: js(browser, "return document.querySelector('#videos').dataset.loaded"), what="the list")
    listed = {c.get_attribute("data-id") for c in browser.find_elements(By.CSS_SELECTOR, "#videos .video")}
    # Keyboard only: from the prompt to the Generate button and press it.
    browser.find_element(By.ID, "create-button").send_keys(Keys.ENTER)

    def new_card():
        # Other tests' videos are listed too: the new one is the card that was not there before.
        cards = browser.find_elements(By.CSS_SELECTOR, "#videos .video")
        return next((c for c in cards if c.get_attribute("data-id") not in listed), None)

    card = wait_until(new_card, what="the new video's card")
    video_id = card.get_attribute("data-id")
    # Watch the bar: it must pass through values between the ends, not jump from 0 to done.
    seen = set()
    preview_shown = False
    deadline = time.monotonic() + 120
    while card.get_attribute("data-status") != "completed" and time.monotonic() < deadline:
        value = js(browser, "return arguments[0].querySelector('progress').value", card)
        seen.add(value)
        if not preview_shown and js(
            browser, "const i = arguments[0].querySelector('.preview'); return !i.hidden && i.naturalWidth > 0", card
        ):
            preview_shown = True
            screenshot(browser, tmp_path, "2-rendering", card)
        time.sleep(0.05)
    assert card.get_attribute("data-status") == "completed", card.text
    # The page polls the list every 3 s for videos it does not stream (other tests leave queued ones):
    # a listing fetched before the end must not turn the finished card back.
    statuses = set()
    for _ in range(40):
        statuses.add(card.get_attribute("data-status"))
        time.sleep(0.1)
    assert statuses == {"completed"}, statuses
    moving = sorted(v for v in seen if 0 < v < 100)
    assert len(moving) >= 2, f"the progress bar did not move: {sorted(seen)}"
    assert preview_shown, "no preview appeared while rendering"

    player = card.find_element(By.CSS_SELECTOR, "video.player")
    wait_until(lambda: js(browser, "return arguments[0].readyState", player) >= 1, what="the video's metadata")
    duration = js(browser, "return arguments[0].duration", player)
    expected = httpx.get(f"{api_url}/v1/videos/{video_id}").json()
    assert abs(duration - int(expected["seconds"])) < 0.5, duration
    js(browser, "arguments[0].muted = true; return arguments[0].play()", player)
    wait_until(lambda: js(browser, "return arguments[0].currentTime", player) > 0, what="the video to play")
    assert js(browser, "return arguments[0].readyState", player) >= 2
    screenshot(browser, tmp_path, "3-completed", card)
    download = card.find_element(By.CSS_SELECTOR, "a.download")
    assert download.get_attribute("href").endswith(f"/v1/videos/{video_id}/content?variant=video")

    card.find_element(By.CSS_SELECTOR, "button.delete").click()
    wait_until(lambda: not browser.find_elements(By.ID, f"video-{video_id}"), what="the card to go")
    assert httpx.get(f"{api_url}/v1/videos/{video_id}").status_code == 404
    for other in waiting:
        httpx.delete(f"{api_url}/v1/videos/{other}").raise_for_status()


def test_a_refused_upload_shows_the_api_message(browser, api_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    not_an_image = tmp_path / "holiday.png"
    not_an_image.write_bytes(b"this is not a picture")
    refusal = httpx.post(
        f"{api_url}/v1/videos",
        data={"prompt": "a red ball", "model": RENDERED},
        files={"input_reference": ("holiday.png", not_an_image.read_bytes(), "image/png")},
    )
    assert refusal.status_code == 400
    browser.get(f"{api_url}/")
    wait_for_model(browser)
    Select(browser.find_element(By.ID, "model")).select_by_value(RENDERED)
    assert browser.find_element(By.ID, "image-field").is_displayed()
    browser.find_element(By.ID, "prompt").send_keys("a red ball")
    browser.find_element(By.ID, "image").send_keys(str(not_an_image))
    browser.find_element(By.ID, "create-button").click()
    error = browser.find_element(By.ID, "create-error")
    wait_until(lambda: error.text, what="the error message")
    # The same message the API gives (object addresses in it differ from call to call).
    assert re.sub("0x[0-9a-f]+", "0x", error.text) == re.sub("0x[0-9a-f]+", "0x", refusal.json()["error"]["message"])
    assert browser.find_element(By.ID, "create-button").is_enabled()
    screenshot(browser, tmp_path, "4-refused-upload")


def test_with_keys_the_page_asks_for_one_and_streams_with_it(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from app.events.slots import leases_key
    from tests.event_fixtures import IDLE
    from tests.tenants import new_key, private_api

    with private_api(tmp_path / "keyed") as api:
        key = new_key(api.env, "browser", "studio-tenant")
        video = api.post("/v1/videos", key, json={"prompt": "a red ball", "model": IDLE}).json()
        browser.get(f"{api.base}/")
        key_field = wait_until(
            lambda: browser.find_element(By.ID, "api-key").is_displayed() and browser.find_element(By.ID, "api-key")
        )
        assert "API key" in browser.find_element(By.ID, "create-error").text  # the API's own 401 message
        key_field.send_keys(key, Keys.ENTER)
        card = wait_until(lambda: browser.find_elements(By.ID, f"video-{video['id']}"), what="the tenant's video")[0]
        assert "Queued" in card.text
        assert browser.find_element(By.ID, "create-error").text == ""
        # The page's EventSource can't send the header: the cookie carries the key, so it holds a lease.
        wait_until(lambda: api.redis.zcard(leases_key("studio-tenant")) == 1, timeout_s=10, what="the stream")
        assert js(browser, "return localStorage.getItem('t2v_api_key')") == key
        screenshot(browser, tmp_path, "5-keyed", card)


@pytest.mark.usefixtures("events_worker")
def test_remix_and_extend_from_a_finished_card(browser, api_url, tmp_path):
    from selenium.webdriver.common.by import By

    source = httpx.post(
        f"{api_url}/v1/videos", json={"prompt": "a red ball rolling left", "model": RENDERED, "seconds": "1"}
    ).json()
    wait_until(
        lambda: httpx.get(f"{api_url}/v1/videos/{source['id']}").json()["status"] == "completed", what="the source"
    )
    browser.get(f"{api_url}/")
    card = wait_until(lambda: browser.find_elements(By.ID, f"video-{source['id']}"), what="the source's card")[0]
    wait_until(lambda: card.get_attribute("data-status") == "completed", what="the source's card to finish")

    def follow_up(button: str, prompt: str) -> dict:
        """Press the card's button, write the prompt, send it: the API's answer for the new card."""
        before = {c.get_attribute("data-id") for c in browser.find_elements(By.CSS_SELECTOR, "#videos .video")}
        card.find_element(By.CSS_SELECTOR, f"button.{button}").click()
        form = card.find_element(By.CSS_SELECTOR, "form.follow-up")
        assert form.is_displayed()
        form.find_element(By.CSS_SELECTOR, "textarea").send_keys(prompt)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        made = wait_until(
            lambda: next(
                (
                    c
                    for c in browser.find_elements(By.CSS_SELECTOR, "#videos .video")
                    if c.get_attribute("data-id") not in before
                ),
                None,
            ),
            what=f"the {button}'s card",
        )
        wait_until(lambda: made.get_attribute("data-status") == "completed", timeout_s=120, what=f"the {button}")
        assert not form.is_displayed()
        return httpx.get(f"{api_url}/v1/videos/{made.get_attribute('data-id')}").json()

    remix = follow_up("remix", "a blue ball rolling left")
    assert remix["remixed_from_video_id"] == source["id"] and remix["prompt"] == "a blue ball rolling left"
    assert remix["seconds"] == source["seconds"]
    extension = follow_up("extend", "the ball stops")
    # The studio extends by the source's length: the new video is both.
    assert extension["seconds"] == "2" and extension["status"] == "completed"
    screenshot(browser, tmp_path, "6-remix-and-extend", card)


@pytest.mark.usefixtures("events_worker")
def test_the_studio_passes_an_accessibility_audit(browser, api_url, tmp_path):
    """axe-core (WCAG 2.1 A and AA rules) on the page with a finished video and its follow-up form open."""
    from selenium.webdriver.common.by import By
    from selenium_axe_python import Axe

    video = httpx.post(f"{api_url}/v1/videos", json={"prompt": "a red ball", "model": RENDERED, "seconds": "1"}).json()
    wait_until(lambda: httpx.get(f"{api_url}/v1/videos/{video['id']}").json()["status"] == "completed", what="a video")
    browser.get(f"{api_url}/")
    card = wait_until(lambda: browser.find_elements(By.ID, f"video-{video['id']}"), what="its card")[0]
    wait_until(lambda: card.get_attribute("data-status") == "completed", what="the card to finish")
    card.find_element(By.CSS_SELECTOR, "button.remix").click()
    axe = Axe(browser)
    axe.inject()
    results = axe.run(options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
    assert results["passes"], "the audit checked nothing"
    assert results["violations"] == [], axe.report(results["violations"])
