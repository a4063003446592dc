"""Demo and bulk data for development, demos and performance work (`manage.py seed_demo`).

A top-level app above every domain app: it may import any of them, none imports it.
`world` creates the fixed demo world (channels, products, warehouses, providers, users,
opening stock); `plans` (with `plan_types` and `shipment_plans`) describes realistic
orders in every status as the owning apps' named row types; `bulk` writes those rows
with Postgres COPY through each owning app's `sql.py`, the stock ledger through
inventory, which keeps the levels equal to it; `sandbox` registers the demo's
dispatched shipments at the LSP sandbox. Nothing here runs from migrations.
"""
