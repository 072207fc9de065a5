"""End to end in a real browser: upload an artwork, decompose it, re-sample one stage, and check
the result appears, with no request leaving the machine; an unreadable upload and a decompression
bomb get the app's own message in the page; an upload drawn over starts the Create path. Needs the
Python package `playwright` and Debian's Chromium (`apt-get install chromium`); never downloads a
browser."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:Warning",
                                        "ignore:The copy keyword is deprecated:Warning")
"""Gradio's queue (not this project) trips pandas 3 deprecation warnings."""


def _playwright():
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.skip("the browser test needs the playwright Python package (pip install playwright)")
    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        pytest.skip(f"the browser test needs Chromium at {CHROMIUM} (apt-get install -y chromium)")
    return sync_playwright, expect


def _page(pw):
    """A headless Chromium and a page in it, sized like a laptop screen."""
    browser = pw.chromium.launch(executable_path=str(CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium")),
                                 headless=True, args=BROWSER_ARGS)
    return browser, browser.new_page(viewport={"width": 1400, "height": 1000})


def test_upload_decompose_and_resample_in_the_browser(app_url, toy_images, tmp_path):
    sync_playwright, expect = _playwright()
    origin = app_url.rstrip("/")
    outside: list[str] = []
    with sync_playwright() as pw:
        browser, page = _page(pw)
        try:
            page.on("request", lambda r: None if r.url.startswith((origin, "data:", "blob:"))
                    else outside.append(r.url))
            page.goto(app_url)
            page.get_by_role("tab", name="Edit").click()
            page.locator("#edit-input input[type=file]").set_input_files(str(toy_images["shaded"]))
            page.locator("#edit-preview img").first.wait_for(timeout=30_000)
            page.locator("#edit-steps input[type=number]").fill("5")
            page.locator("#edit-steps input[type=number]").press("Enter")
            page.locator("#edit-decompose").click()
            history = page.locator("#edit-history")
            expect(history).to_contain_text("reconstruct (current)", timeout=60_000)
            expect(page.locator("#edit-stages img")).to_have_count(3)

            page.locator("#edit-stage").get_by_text("flat", exact=True).click()
            page.locator("#edit-resample").click()
            expect(history).to_contain_text("resample flat (seed 0) (current)", timeout=60_000)
            expect(page.locator("#edit-files")).to_contain_text("edited-final", timeout=30_000)
            expect(page.locator("#edit-stages img")).to_have_count(3)
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "app.png").stat().st_size > 10_000
    assert outside == [], f"the page made requests off this machine: {outside}"


def test_bad_uploads_get_the_apps_message_in_the_page(app_url, bomb, tmp_path):
    sync_playwright, expect = _playwright()
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image at all")
    with sync_playwright() as pw:
        browser, page = _page(pw)
        try:
            for upload, message in ((fake, "not a PNG, JPEG or WebP image"), (bomb, "the image is 12000×12000 px")):
                page.goto(app_url)
                page.get_by_role("tab", name="Edit").click()
                page.locator("#edit-input input[type=file]").set_input_files(str(upload))
                expect(page.get_by_text(f"the uploaded image: {message}")).to_be_visible(timeout=30_000)
                assert "upstream Gradio app" not in page.content()
        finally:
            browser.close()


def test_an_upload_is_drawn_on_and_started_from_in_the_browser(app_url, toy_images):
    """The upload is checked and put on the canvas, a stroke is drawn over it, and Start reads the
    composite the page sends."""
    sync_playwright, expect = _playwright()
    with sync_playwright() as pw:
        browser, page = _page(pw)
        try:
            page.goto(app_url)
            page.locator("#create-upload input[type=file]").set_input_files(str(toy_images["sketch"]))
            canvas = page.locator("#create-input canvas").first
            canvas.wait_for(timeout=30_000)
            page.wait_for_timeout(1000)
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.7, steps=10)
            page.mouse.up()
            page.locator("#create-start").click()
            expect(page.locator("#create-status")).to_contain_text("Stage 2 of 3", timeout=60_000)
            expect(page.locator("#create-variations img")).to_have_count(4)
        finally:
            browser.close()
