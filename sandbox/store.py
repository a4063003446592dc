"""The LSP sandbox's durable state: one SQLite file, written in short transactions.

Like a real LSP, the sandbox remembers every shipment it created (request, answer,
events, planned steps and when each is due), the idempotency keys it has seen, stock
snapshots, the last number it handed out and the webhooks it still has to deliver, so
that a restart changes nothing its clients can see. The file is the only copy: the
server reads it on every request, so shipments that `seed_demo` registers while the
server runs (`demo_shipments_register`) are served at once.

Nothing here imports Django: the sandbox is a separate service that happens to live
in this repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MEMORY = ":memory:"
SCHEMA_VERSION = 1

# Demo shipments are registered under Consign's own references ("SANDBOX-123"), which
# can never look like the ids the sandbox hands out itself ("sbx_00000031").
ORIGIN_API = "api"
ORIGIN_DEMO = "demo"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shipments (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    idem_key TEXT NOT NULL UNIQUE,
    reference TEXT NOT NULL,
    tracking_number TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    origin TEXT NOT NULL,
    status TEXT NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0,
    create_requests INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    request TEXT NOT NULL,
    response TEXT,
    events TEXT NOT NULL,
    plan TEXT NOT NULL,
    schedule TEXT NOT NULL,
    applied INTEGER NOT NULL,
    pending INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS shipments_origin ON shipments (origin, id);
CREATE INDEX IF NOT EXISTS shipments_pending ON shipments (pending) WHERE pending = 1;
CREATE TABLE IF NOT EXISTS stock (
    warehouse TEXT NOT NULL,
    sku TEXT NOT NULL,
    on_hand INTEGER NOT NULL,
    PRIMARY KEY (warehouse, sku)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbounds (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    idem_key TEXT NOT NULL UNIQUE,
    reference TEXT NOT NULL,
    warehouse TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    due REAL NOT NULL,
    receipts TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    due REAL NOT NULL
);
"""

_COLUMNS = (
    "id, idem_key, reference, tracking_number, kind, origin, status, cancelled, "
    "create_requests, created_at, request, response, events, plan, schedule, applied, pending"
)


class StateInUse(RuntimeError):
    """Another sandbox process already serves this state file."""


@dataclass
class SandboxShipment:
    id: str
    reference: str
    tracking_number: str
    request: dict[str, Any]
    created_at: float
    idem_key: str = ""
    response: dict[str, Any] = field(default_factory=dict)
    status: str = "INFO_RECEIVED"
    events: list[dict[str, Any]] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    # When each planned step is due (epoch seconds); steps before `applied` happened.
    schedule: list[float] = field(default_factory=list)
    applied: int = 0
    cancelled: bool = False
    create_requests: int = 1
    kind: str = "outbound"
    origin: str = ORIGIN_API

    @property
    def pending(self) -> bool:
        return not self.cancelled and self.applied < len(self.plan)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "tracking_number": self.tracking_number,
            "status": self.status,
            "events": len(self.events),
            "create_requests": self.create_requests,
            "plan": self.plan,
            "kind": self.kind,
            "customs": self.request.get("customs"),
        }

    def row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.idem_key,
            self.reference,
            self.tracking_number,
            self.kind,
            self.origin,
            self.status,
            int(self.cancelled),
            self.create_requests,
            self.created_at,
            _dumps(self.request),
            _dumps(self.response) if self.response else None,
            _dumps(self.events),
            _dumps(self.plan),
            _dumps(self.schedule),
            self.applied,
            int(self.pending),
        )

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[Any, ...]) -> SandboxShipment:
        (id_, idem_key, reference, tracking, kind, origin, status, cancelled, create_requests,
         created_at, request, response, events, plan, schedule, applied, _pending) = row  # fmt: skip
        return cls(
            id=id_,
            idem_key=idem_key,
            reference=reference,
            tracking_number=tracking,
            kind=kind,
            origin=origin,
            status=status,
            cancelled=bool(cancelled),
            create_requests=create_requests,
            created_at=created_at,
            request=json.loads(request),
            response=json.loads(response) if response else {},
            events=json.loads(events),
            plan=json.loads(plan),
            schedule=json.loads(schedule),
            applied=applied,
        )


_INBOUND_COLUMNS = (
    "id, idem_key, reference, warehouse, request, response, status, outcome, due, receipts"
)


@dataclass
class SandboxInbound:
    """An ASN the sandbox accepted: `ACCEPTED` until its receipt (due at `due`), then
    `RECEIVED` with `receipts`, or `CANCELLED`. `outcome` (exact, short, over) is decided
    when it is accepted, so a restart does not change it."""

    id: str
    idem_key: str
    reference: str
    warehouse: str
    request: dict[str, Any]
    response: dict[str, Any]
    due: float
    status: str = "ACCEPTED"
    outcome: str = "exact"
    receipts: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            **self.response,
            "status": self.status,
            "outcome": self.outcome,
            "receipts": self.receipts,
        }

    def row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.idem_key,
            self.reference,
            self.warehouse,
            _dumps(self.request),
            _dumps(self.response),
            self.status,
            self.outcome,
            self.due,
            _dumps(self.receipts),
        )

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[Any, ...]) -> SandboxInbound:
        id_, key, reference, warehouse, request, response, status, outcome, due, receipts = row
        return cls(
            id=id_,
            idem_key=key,
            reference=reference,
            warehouse=warehouse,
            request=json.loads(request),
            response=json.loads(response),
            status=status,
            outcome=outcome,
            due=float(due),
            receipts=json.loads(receipts),
        )


@dataclass
class Delivery:
    """A webhook still to be delivered (or retried)."""

    row_id: int
    msg_id: str
    body: bytes
    attempt: int
    due: float


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def sandbox_state_path(*, explicit: str, var_dir: Path, port: int) -> str:
    """Where a sandbox on `port` keeps its state: `explicit` if given, else under var/.

    One store per sandbox address by default: the links it hands out (labels,
    tracking pages) and Consign's provider records name that address, and a second
    sandbox on another port (the drills, a benchmark) is a different LSP.
    """
    if explicit:
        return explicit
    return str(var_dir / f"lsp-sandbox-{port}.sqlite3")


class SandboxStore:
    """The SQLite file behind one sandbox.

    One connection, used under the caller's lock (the sandbox serialises its work
    with one lock; SQLite serialises the other processes, such as seed_demo). Write
    transactions are `BEGIN IMMEDIATE`, so a writer waits for the write lock up front
    (busy_timeout) instead of failing half-way, and are kept to a few statements.
    """

    def __init__(self, path: str | Path = MEMORY, *, exclusive: bool = False) -> None:
        self.path = str(path)
        self._lock_file: IO[bytes] | None = None
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            if exclusive:
                self._lock_file = _lock_exclusively(Path(self.path))
        self.conn = _connect(self.path)

    @property
    def persistent(self) -> bool:
        return self.path != MEMORY

    def close(self) -> None:
        self.conn.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- numbers -------------------------------------------------------------
    def next_number(self) -> int:
        """The next shipment number; never handed out twice, not even after a reset."""
        (value,) = self.conn.execute(
            "INSERT INTO meta (name, value) VALUES ('counter', 1)"
            " ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
        ).fetchone()
        return int(value)

    def counter(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE name = 'counter'").fetchone()
        return int(row[0]) if row else 0

    # --- shipments -----------------------------------------------------------
    def get(self, shipment_id: str) -> SandboxShipment | None:
        return self._one("id", shipment_id)

    def by_key(self, key: str) -> SandboxShipment | None:
        return self._one("idem_key", key)

    def by_tracking_number(self, number: str) -> SandboxShipment | None:
        return self._one("tracking_number", number)

    def _one(self, column: str, value: str) -> SandboxShipment | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM shipments WHERE {column} = ?",  # noqa: S608 (fixed names)
            (value,),
        ).fetchone()
        return SandboxShipment.from_row(row) if row else None

    def insert(self, shipment: SandboxShipment) -> None:
        placeholders = ", ".join("?" * len(_COLUMNS.split(",")))
        self.conn.execute(
            f"INSERT INTO shipments ({_COLUMNS}) VALUES ({placeholders})",  # noqa: S608
            shipment.row(),
        )

    def save(self, shipment: SandboxShipment) -> None:
        """Store what changes after creation: status, events, progress, cancellation."""
        self.conn.execute(
            "UPDATE shipments SET status = ?, cancelled = ?, create_requests = ?, events = ?,"
            " applied = ?, pending = ? WHERE id = ?",
            (
                shipment.status,
                int(shipment.cancelled),
                shipment.create_requests,
                _dumps(shipment.events),
                shipment.applied,
                int(shipment.pending),
                shipment.id,
            ),
        )

    def count_create_request(self, shipment_id: str) -> None:
        self.conn.execute(
            "UPDATE shipments SET create_requests = create_requests + 1 WHERE id = ?",
            (shipment_id,),
        )

    def listing(
        self, *, reference: str = "", shipment_id: str = "", limit: int = 1000
    ) -> tuple[int, list[SandboxShipment]]:
        """(how many match, the first `limit` of them in creation order)."""
        where, params = [], []
        if reference:
            where.append("reference = ?")
            params.append(reference)
        if shipment_id:
            where.append("id = ?")
            params.append(shipment_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        (count,) = self.conn.execute(
            f"SELECT count(*) FROM shipments{clause}",  # noqa: S608 (fixed names)
            params,
        ).fetchone()
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM shipments{clause} ORDER BY seq LIMIT ?",  # noqa: S608
            [*params, limit],
        ).fetchall()
        return int(count), [SandboxShipment.from_row(row) for row in rows]

    def created_between(self, start: float, end: float) -> list[SandboxShipment]:
        """Shipments created in [start, end) (epoch seconds), in creation order."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM shipments WHERE created_at >= ? AND created_at < ? "  # noqa: S608
            "ORDER BY seq",
            (start, end),
        ).fetchall()
        return [SandboxShipment.from_row(row) for row in rows]

    def shipment_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM shipments").fetchone()[0])

    def pending_steps(self) -> Iterator[tuple[str, int, float]]:
        """(shipment id, step index, due) of every planned step not yet applied."""
        rows = self.conn.execute(
            "SELECT id, schedule, applied FROM shipments WHERE pending = 1 ORDER BY seq"
        ).fetchall()
        for shipment_id, schedule, applied in rows:
            for index, due in enumerate(json.loads(schedule)):
                if index >= applied:
                    yield shipment_id, index, float(due)

    # --- stock ---------------------------------------------------------------
    def stock_replace(self, *, warehouse: str, levels: dict[str, int]) -> None:
        self.conn.execute("DELETE FROM stock WHERE warehouse = ?", (warehouse,))
        self.conn.executemany(
            "INSERT INTO stock (warehouse, sku, on_hand) VALUES (?, ?, ?)",
            [(warehouse, sku, qty) for sku, qty in levels.items()],
        )

    def stock(self, warehouse: str) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT sku, on_hand FROM stock WHERE warehouse = ? ORDER BY sku", (warehouse,)
        ).fetchall()
        return {sku: int(qty) for sku, qty in rows}

    def stock_take(self, *, warehouse: str, sku: str, quantity: int) -> None:
        # Only SKUs of a snapshot the sandbox was given move, as before.
        self.conn.execute(
            "UPDATE stock SET on_hand = on_hand - ? WHERE warehouse = ? AND sku = ?",
            (quantity, warehouse, sku),
        )

    # --- inbound shipments (ASNs) -------------------------------------------
    def inbound_get(self, *, column: str, value: str) -> SandboxInbound | None:
        assert column in ("id", "idem_key")  # noqa: S101 - fixed names only
        row = self.conn.execute(
            f"SELECT {_INBOUND_COLUMNS} FROM inbounds WHERE {column} = ?",  # noqa: S608
            (value,),
        ).fetchone()
        return SandboxInbound.from_row(row) if row else None

    def inbound_insert(self, inbound: SandboxInbound) -> None:
        placeholders = ", ".join("?" * len(_INBOUND_COLUMNS.split(",")))
        self.conn.execute(
            f"INSERT INTO inbounds ({_INBOUND_COLUMNS}) VALUES ({placeholders})",  # noqa: S608
            inbound.row(),
        )

    def inbound_save(self, inbound: SandboxInbound) -> None:
        self.conn.execute(
            "UPDATE inbounds SET status = ?, receipts = ? WHERE id = ?",
            (inbound.status, _dumps(inbound.receipts), inbound.id),
        )

    def inbounds_pending(self) -> list[tuple[str, float]]:
        """(id, due) of every ASN whose receipt is still to come."""
        rows = self.conn.execute(
            "SELECT id, due FROM inbounds WHERE status = 'ACCEPTED' ORDER BY seq"
        ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def inbound_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM inbounds").fetchone()[0])

    def stock_put(self, *, warehouse: str, sku: str, quantity: int) -> None:
        """Received goods: only SKUs of a snapshot the sandbox was given move (as stock_take)."""
        self.conn.execute(
            "UPDATE stock SET on_hand = on_hand + ? WHERE warehouse = ? AND sku = ?",
            (quantity, warehouse, sku),
        )

    # --- webhook deliveries --------------------------------------------------
    def delivery_add(self, *, msg_id: str, body: bytes, due: float) -> int:
        cursor = self.conn.execute(
            "INSERT INTO deliveries (msg_id, body, attempt, due) VALUES (?, ?, 0, ?)",
            (msg_id, body.decode(), due),
        )
        return int(cursor.lastrowid or 0)

    def delivery_retry(self, *, row_id: int, attempt: int, due: float) -> None:
        self.conn.execute(
            "UPDATE deliveries SET attempt = ?, due = ? WHERE id = ?", (attempt, due, row_id)
        )

    def delivery_done(self, row_id: int) -> None:
        self.conn.execute("DELETE FROM deliveries WHERE id = ?", (row_id,))

    def deliveries(self) -> list[Delivery]:
        rows = self.conn.execute(
            "SELECT id, msg_id, body, attempt, due FROM deliveries ORDER BY due, id"
        ).fetchall()
        return [Delivery(r[0], r[1], r[2].encode(), int(r[3]), float(r[4])) for r in rows]

    # --- everything ----------------------------------------------------------
    def clear(self) -> None:
        """Forget shipments, keys, stock and deliveries; the number counter stays."""
        for table in ("shipments", "inbounds", "stock", "deliveries"):
            self.conn.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: transactions are exactly the BEGIN/COMMIT written here.
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    # Bigger page cache (64 MB) than the 2 MB default: a demo store of a million-order
    # database has indexes on random keys (idempotency tokens) that must stay in memory.
    conn.execute("PRAGMA cache_size = -65536")
    if path != MEMORY:
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a commit survives the process being killed (what a restart
        # is); only a power cut may lose the last moments, never consistency.
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version not in (0, SCHEMA_VERSION):
            raise RuntimeError(
                f"{path} holds sandbox state of schema version {version}; this sandbox "
                f"reads version {SCHEMA_VERSION}. Move the file away (or pass --state)."
            )
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        conn.close()
        raise
    conn.execute("COMMIT")
    return conn


def _lock_exclusively(path: Path) -> IO[bytes]:
    """Hold `<state>.lock` for the life of the process, so two sandboxes never share a store.

    The lock goes when the process does, however it ends; a stale file is harmless.
    """
    lock_file = (path.parent / f"{path.name}.lock").open("ab")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise StateInUse(
            f"Another LSP sandbox is using {path}. Stop it, or give this one its own "
            "--state (or LSP_SANDBOX_STATE)."
        ) from None
    return lock_file


# --- demo shipments (seed_demo) -------------------------------------------------------


@dataclass(frozen=True)
class DemoShipment:
    """A shipment Consign's demo data says this sandbox created, as the sandbox keeps it.

    The JSON fields come ready-made (seed_demo has Postgres build them): `request`
    is the create body, `events` the tracking events in order, each `{id, status,
    occurred_at, description, location}` with the id Consign stored (so a tracking
    poll finds nothing new), `plan` their statuses, `status` the last one, `cost`
    `{"amount", "currency"}` or None.
    """

    id: str
    idempotency_key: str
    tracking_number: str
    created_at: float
    request: str
    events: str
    plan: str
    steps: int
    status: str
    cost: str | None = None


def demo_shipment_ids(path: str | Path) -> set[str]:
    """Ids of the demo shipments already in the store at `path`."""
    store = SandboxStore(path)
    try:
        rows = store.conn.execute(
            "SELECT id FROM shipments WHERE origin = ?", (ORIGIN_DEMO,)
        ).fetchall()
        return {row[0] for row in rows}
    finally:
        store.close()


def demo_shipments_register(
    path: str | Path,
    shipments: Iterable[DemoShipment],
    *,
    counter_at_least: int = 0,
    batch_size: int = 5000,
) -> int:
    """Add demo shipments to the store at `path`, in batches of one short transaction each.

    Idempotent: a shipment whose id, key or tracking number is known already is left
    as it is. Safe while a sandbox serves the same file (it reads the store on every
    request). `counter_at_least` raises the number counter so that the sandbox never
    hands out a number Consign already holds. Returns how many shipments were added.
    """
    store = SandboxStore(path)
    try:
        added = 0
        batch: list[tuple[Any, ...]] = []
        for demo in shipments:
            batch.append(_demo_row(demo))
            if len(batch) >= batch_size:
                added += _insert_ignoring(store, batch)
                batch = []
        if batch:
            added += _insert_ignoring(store, batch)
        if counter_at_least:
            with store.write() as conn:
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('counter', ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
                    (counter_at_least,),
                )
        return added
    finally:
        store.close()


def _insert_ignoring(store: SandboxStore, rows: list[tuple[Any, ...]]) -> int:
    placeholders = ", ".join("?" * len(_COLUMNS.split(",")))
    with store.write() as conn:
        before = conn.total_changes
        conn.executemany(
            f"INSERT OR IGNORE INTO shipments ({_COLUMNS}) VALUES ({placeholders})",  # noqa: S608
            rows,
        )
        return conn.total_changes - before


def _demo_row(demo: DemoShipment) -> tuple[Any, ...]:
    # Column order of _COLUMNS. All steps happened: a demo shipment only changes if
    # cancelled. Its links are built on read from the sandbox's own address
    # (server.Sandbox.response_of); the response column keeps only the cost.
    return (
        demo.id,
        demo.idempotency_key,
        demo.idempotency_key,
        demo.tracking_number,
        "outbound",
        ORIGIN_DEMO,
        demo.status or "INFO_RECEIVED",
        0,
        1,
        demo.created_at,
        demo.request,
        f'{{"cost":{demo.cost}}}' if demo.cost else None,
        demo.events,
        demo.plan,
        "[]",
        demo.steps,
        0,
    )
