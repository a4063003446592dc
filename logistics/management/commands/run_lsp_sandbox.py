"""Placeholder LSP sandbox: answers health checks until the logistics issue lands the real one."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "service": "consign-lsp-sandbox"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        return


class Command(BaseCommand):
    help = "Run the LSP sandbox HTTP service."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8700)

    def handle(self, *args, host: str, port: int, **options):
        server = ThreadingHTTPServer((host, port), _Handler)
        self.stdout.write(f"LSP sandbox listening on http://{host}:{port}/")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
