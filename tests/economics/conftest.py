from tests.backoffice.browser import browser_page, chromium  # noqa: F401
