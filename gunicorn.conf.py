"""gunicorn settings every `gunicorn config.wsgi` run picks up (it reads ./gunicorn.conf.py).

No request-line limit: gunicorn would answer a long query string (e.g. 100 SKUs
on /api/v1/inventory/) with its own HTML 414 page; Django answers instead, with
problem+json under /api/. Header sizes keep gunicorn's defaults.
"""

limit_request_line = 0
