"""The review page in a real browser: headless Chromium from the system's packages,
driven by Playwright (``executable_path``: no browser is downloaded).

Skipped when Playwright or Chromium is missing, unless ``ANNOTOOL_REQUIRE_BROWSER=1``
(set by ``.ci/run``), which makes a missing browser a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from review_fixtures import make_review_inputs, tiny_options

from annotool.labels import load_labels
from annotool.review.run import review

REQUIRE_BROWSER = os.environ.get("ANNOTOOL_REQUIRE_BROWSER") == "1"
CHROMIUM = os.environ.get("ANNOTOOL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _unavailable(message: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"{message} (ANNOTOOL_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def review_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("page")
    inputs = make_review_inputs(root / "photos")
    review(inputs, load_labels(inputs / "labels.txt"), root / "review", tiny_options())
    torch.set_num_threads(threads)
    return root / "review" / "index.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def test_the_page_reads_in_a_browser(browser: Any, review_page: Path, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(review_page.as_uri())

    images = page.locator("img")
    assert images.count() > 0
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete", arg=image.element_handle())
        assert image.evaluate("img => img.naturalWidth") > 0, image.get_attribute("src")

    cards = page.locator("article.card")
    scores = [float(cards.nth(i).get_attribute("data-score")) for i in range(cards.count())]
    assert scores and scores == sorted(scores, reverse=True)

    kind = cards.first.get_attribute("data-kind")
    of_kind = page.locator(f"article.card[data-kind={kind}]")
    others = page.locator(f"article.card:not([data-kind={kind}])")
    page.locator(f"input[name=kind][value={kind}]").uncheck()
    assert all(of_kind.nth(i).is_hidden() for i in range(of_kind.count()))
    assert all(others.nth(i).is_visible() for i in range(others.count()))
    assert f"{others.count()} of {cards.count()} shown" in page.locator("#shown").inner_text()
    page.locator(f"input[name=kind][value={kind}]").check()
    assert all(of_kind.nth(i).is_visible() for i in range(of_kind.count()))

    label = page.locator("#class-filter option").nth(1).get_attribute("value")
    page.locator("#class-filter").select_option(label)
    for i in range(cards.count()):
        card = cards.nth(i)
        assert card.is_visible() == (label in card.inner_text())
    page.locator("#class-filter").select_option("")

    page.evaluate("window.scrollTo(0, 0)")
    screenshot = tmp_path / "review.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000
    assert errors == []
