"""The app's screenshot in the README and docs/app.md, taken from the bundled demo model.

    python docs/make_app_screenshot.py --out docs/app.png

Serves the app on this machine, opens it in Debian's headless Chromium (playwright drives it; no
browser is downloaded), decomposes a bundled sample artwork (its 256 px version) with AdaIN optimisation and the learned
regularisation, re-samples its flat stage and captures the whole page.
"""
from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
from pathlib import Path

from artworkflow.app.launch import launch
from artworkflow.data.layout import image_path
from artworkflow.data.sample import bundled_sample_path, full_size_image

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(out: Path, item: str, steps: int, seed: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Chromium not found: apt-get install -y chromium")
    artwork = full_size_image("shaded", item) or image_path(bundled_sample_path(), "test", "shaded", item)
    with tempfile.TemporaryDirectory() as tmp:
        demo, url = launch(port=_free_port(), block=False, quiet=True, output_dir=tmp)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.goto(url)
                page.get_by_role("tab", name="Edit").click()
                page.locator("#edit-input input[type=file]").set_input_files(str(artwork))
                page.locator("#edit-preview img").first.wait_for(timeout=30_000)
                page.locator("#edit-mode").get_by_text("AdaIN + learned regularisation").click()
                page.locator("#edit-steps input[type=number]").fill(str(steps))
                page.locator("#edit-steps input[type=number]").press("Enter")
                page.locator("#edit-decompose").click()
                history = page.locator("#edit-history")
                expect(history).to_contain_text("reconstruct (current)", timeout=120_000)
                page.locator("#edit-stage").get_by_text("flat", exact=True).click()
                page.locator("#edit-seed input").fill(str(seed))
                page.locator("#edit-resample").click()
                expect(history).to_contain_text(f"resample flat (seed {seed}) (current)", timeout=60_000)
                expect(page.locator("#edit-files")).to_contain_text("edited-final", timeout=30_000)
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            demo.close()
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/app.png"))
    p.add_argument("--item", default="billed-cap", help="a bundled test sample's id (default: billed-cap)")
    p.add_argument("--steps", type=int, default=50, help="optimisation steps per stage (default: 50)")
    p.add_argument("--seed", type=int, default=1, help="seed of the flat stage's re-sample (default: 1)")
    a = p.parse_args()
    screenshot(a.out, a.item, a.steps, a.seed)


if __name__ == "__main__":
    main()
