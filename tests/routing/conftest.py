from tests.backoffice.browser import browser_page, chromium, handheld_page  # noqa: F401
