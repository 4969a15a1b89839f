"""Make docs/images/review.png, the README's picture of the review page.

Opens a review's ``index.html`` in headless Chromium (Debian's package, through
Playwright's ``executable_path``), takes the top of the page at 1200x760 and saves it as
a 128-colour PNG, small enough for the repository. The picture in the README comes from
``python benchmarks/bench_review.py --keep DIR`` (real-looking desk photos with injected
mistakes): ``python docs/make_review_screenshot.py DIR/review/index.html``.

Usage: python docs/make_review_screenshot.py INDEX_HTML [OUT_PNG]
"""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1200, 760
COLOURS = 128


def screenshot(index_html: Path, out_png: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(index_html.resolve().as_uri())
        for image in page.locator("img").all()[:12]:
            image.scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete", arg=image.element_handle())
        page.evaluate("window.scrollTo(0, 0)")
        picture = page.screenshot()
        browser.close()
    image = Image.open(io.BytesIO(picture)).convert("RGB")
    image.quantize(COLOURS, dither=Image.Dither.NONE).save(out_png, optimize=True)


if __name__ == "__main__":
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "images" / "review.png"
    screenshot(Path(sys.argv[1]), out)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
