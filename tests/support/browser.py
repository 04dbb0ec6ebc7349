"""Headless Chromium driven by Selenium, for the console's system tests and
scripts/console-screenshot.

Debian's ``chromium`` and ``chromium-driver`` (scripts/test installs them);
Selenium from PyPI. Every Selenium call blocks: tests make them from a
thread (``tests.support.node.in_thread``) while the reactor serves the
nodes. The browser starts with a profile of its own in a temporary
directory and nothing that reaches the network by itself.
"""

import importlib.util
import os
import shutil
import tempfile

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)
WINDOW = (1360, 1000)


def _which(names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing() -> str | None:
    """Why the browser cannot start here, or ``None``."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install '.[test]')"
    if _which(CHROMIUM_NAMES) is None:
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    if _which(DRIVER_NAMES) is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


def start_chromium(download_dir: str | None = None, window=WINDOW):
    """A headless Chromium (``selenium.webdriver.Chrome``); call ``quit()``.
    ``download_dir``: where downloads land, without asking."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="garage-console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _which(CHROMIUM_NAMES)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--disable-default-apps",
                     "--disable-dev-shm-usage", "--hide-scrollbars",
                     f"--window-size={window[0]},{window[1]}",
                     f"--user-data-dir={profile}"):
        options.add_argument(argument)
    if download_dir is not None:
        options.add_experimental_option("prefs", {
            "download.default_directory": download_dir,
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
            "safebrowsing.enabled": False,
        })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=Service(_which(DRIVER_NAMES), log_output=os.devnull))
    if download_dir is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": download_dir})
    driver.set_window_size(*window)
    original_quit = driver.quit

    def quit_and_clean():
        try:
            original_quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    driver.quit = quit_and_clean
    return driver
