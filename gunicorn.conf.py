"""gunicorn settings every `gunicorn config.wsgi` run picks up (it reads ./gunicorn.conf.py).

Worker start-up settles the garbage collector (core/gc_tuning.py).

No request-line limit: gunicorn would answer a long query string (e.g. 100 SKUs
on /api/v1/inventory/) with its own error; Django answers instead, with
problem+json under /api/. Header sizes keep gunicorn's ceilings: 8190 bytes per
header line (`limit_request_field_size`) and 100 headers; a request over them is
answered by gunicorn, in problem+json (431), never an HTML page, and an
Idempotency-Key over 255 characters is Django's 400 problem long before that
(core/gunicorn_support.py).

The access log redacts every query-string value (core/gunicorn_support.py): the
desk's `?q=` is what a customer reads out (an e-mail, a phone number).
"""

limit_request_line = 0
limit_request_field_size = 8190
limit_request_fields = 100
logger_class = "core.gunicorn_support.RedactingLogger"


def post_worker_init(worker):
    # After the worker loaded the app: keep the collector off start-up objects
    # (core/gc_tuning.py has the figures).
    from core.gc_tuning import gc_settle_after_startup
    from core.gunicorn_support import install_problem_errors

    gc_settle_after_startup()
    install_problem_errors(worker)
