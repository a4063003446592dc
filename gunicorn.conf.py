"""gunicorn settings every `gunicorn config.wsgi` run picks up (it reads ./gunicorn.conf.py).

Worker start-up settles the garbage collector (core/gc_tuning.py).

No request-line limit: gunicorn would answer a long query string (e.g. 100 SKUs
on /api/v1/inventory/) with its own HTML 414 page; Django answers instead, with
problem+json under /api/. Header sizes keep gunicorn's defaults.
"""

limit_request_line = 0


def post_worker_init(worker):
    # After the worker loaded the app: keep the collector off start-up objects
    # (core/gc_tuning.py has the figures).
    from core.gc_tuning import gc_settle_after_startup

    gc_settle_after_startup()
