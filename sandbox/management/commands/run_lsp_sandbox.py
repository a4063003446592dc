"""Run the LSP sandbox HTTP service (see sandbox/server.py and docs/logistics.md)."""

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.server import SandboxConfig, make_server
from sandbox.store import StateInUse, sandbox_state_path


def _rate(value: str) -> float:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise ValueError("rates are between 0 and 1")
    return rate


class Command(BaseCommand):
    help = "Run the LSP sandbox: a fake 3PL/carrier that Consign dispatches to and hears from."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8700)
        parser.add_argument(
            "--step-seconds",
            type=float,
            default=None,
            help="Seconds between tracking steps (default LSP_SANDBOX_STEP_SECONDS).",
        )
        parser.add_argument("--fail-rate", type=_rate, default=0.0)
        parser.add_argument("--latency-ms", type=float, default=0.0)
        parser.add_argument("--duplicate-rate", type=_rate, default=0.0)
        parser.add_argument("--reorder-rate", type=_rate, default=0.0)
        parser.add_argument("--drop-webhook-rate", type=_rate, default=0.0)
        parser.add_argument("--failed-attempt-rate", type=_rate, default=0.05)
        parser.add_argument("--exception-rate", type=_rate, default=0.03)
        parser.add_argument("--return-rate", type=_rate, default=0.02)
        parser.add_argument(
            "--asn-short-every",
            type=int,
            default=0,
            help="Receive every Nth ASN short (a tenth of each line, at least 1 unit, missing).",
        )
        parser.add_argument(
            "--asn-over-every",
            type=int,
            default=0,
            help="Receive every Nth ASN over (a tenth of each line, at least 1 unit, extra).",
        )
        parser.add_argument(
            "--consign-url",
            default=None,
            help="Where webhooks go (default CONSIGN_PUBLIC_URL) + /webhooks/lsp/<code>/.",
        )
        parser.add_argument("--provider-code", default="sandbox")
        parser.add_argument(
            "--webhook-secret", default=None, help="Default LSP_SANDBOX_WEBHOOK_SECRET."
        )
        parser.add_argument("--api-token", default="", help="Require this Bearer token.")
        parser.add_argument("--no-webhooks", action="store_true", help="Act as a poll-only LSP.")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--rate-card",
            default=None,
            help="Consign rate-card CSV the sandbox bills with (GET /invoices/<YYYY-MM>.csv); "
            "default LSP_SANDBOX_RATE_CARD.",
        )
        parser.add_argument(
            "--state",
            default=None,
            help="SQLite file the sandbox keeps its shipments in (default LSP_SANDBOX_STATE, "
            "else var/lsp-sandbox-<port>.sqlite3); ':memory:' forgets everything on exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("consign.lsp_sandbox").setLevel(logging.INFO)
        config = SandboxConfig(
            host=options["host"],
            port=options["port"],
            step_seconds=options["step_seconds"]
            if options["step_seconds"] is not None
            else settings.LSP_SANDBOX_STEP_SECONDS,
            fail_rate=options["fail_rate"],
            latency_ms=options["latency_ms"],
            duplicate_rate=options["duplicate_rate"],
            reorder_rate=options["reorder_rate"],
            drop_webhook_rate=options["drop_webhook_rate"],
            failed_attempt_rate=options["failed_attempt_rate"],
            exception_rate=options["exception_rate"],
            return_rate=options["return_rate"],
            asn_short_every=max(options["asn_short_every"], 0),
            asn_over_every=max(options["asn_over_every"], 0),
            consign_url=options["consign_url"] or settings.CONSIGN_PUBLIC_URL,
            provider_code=options["provider_code"],
            webhook_secret=options["webhook_secret"] or settings.LSP_SANDBOX_WEBHOOK_SECRET,
            api_token=options["api_token"],
            webhooks=not options["no_webhooks"],
            seed=options["seed"],
            rate_card=options["rate_card"] or settings.LSP_SANDBOX_RATE_CARD,
            state=sandbox_state_path(
                explicit=options["state"] or settings.LSP_SANDBOX_STATE,
                var_dir=Path(settings.BASE_DIR) / "var",
                port=options["port"],
            ),
        )
        try:
            server, sandbox = make_server(config)
        except StateInUse as exc:
            raise CommandError(str(exc)) from exc
        # SIGTERM (honcho, tests) stops as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        self.stdout.write(
            f"LSP sandbox listening on http://{config.host}:{config.port}/ "
            f"(step {config.step_seconds}s, webhooks → {config.webhook_url}; state "
            f"{config.state}, resumed {sandbox.resumed[0]} steps and "
            f"{sandbox.resumed[1]} webhooks)",
        )
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()
            server.server_close()
