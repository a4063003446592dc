from tests.backoffice.browser import (  # noqa: F401
    browser_page,
    celery_worker,
    chromium,
    handheld_page,
)
