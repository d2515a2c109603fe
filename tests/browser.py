"""Headless Chromium for the suites' browser tests (Debian's `chromium` and `chromium-driver`;
`.ci/run` installs them). Without them the tests are skipped with the reason, unless
CASHBOX_REQUIRE_BROWSER is set (CI), when they fail.
"""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
# CI sets CASHBOX_REQUIRE_BROWSER so that a missing browser fails instead of skipping.
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CASHBOX_REQUIRE_BROWSER"),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)


def start_browser():
    """A new headless Chromium under Selenium; the caller quits it."""
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def click_and_wait(browser, element):
    """Clicks a submit button and waits until the browser has loaded the next page: a mark set
    on this page's window is gone and the new document is complete. Errors while polling
    (chromedriver can answer one mid-navigation) are retried, not failures."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_script("window.__cashboxLeft = false;")
    element.click()
    WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return window.__cashboxLeft === undefined && document.readyState === 'complete';"
        )
    )
