from tests.backoffice.browser import browser_page, celery_worker, chromium  # noqa: F401
