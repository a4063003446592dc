"""Demo and bulk data for development, demos and performance work.

`world` creates the fixed demo world (channels, products, warehouses,
providers, users, opening stock), `plans` describes realistic orders in every
status as plain rows, and `bulk` writes those rows with Postgres COPY and keeps
stock levels equal to the ledger. Nothing here runs from migrations.
"""
