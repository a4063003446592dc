-- The raw-SQL floor of batch intake (bench/api_intake.py, phase `pgbench`): the same
-- "create order" transaction as the API's, written plainly and run by pgbench with
-- prepared statements (-M prepared) at the HTTP phases' concurrency: an order, its 3
-- lines, 3 ledger rows and 3 locked stock-level updates, committed. Three random SKUs
-- of the bench's 300, one from each third so that every transaction locks its rows
-- in the same (SKU) order, as the application locks in one fixed order: no deadlocks.
-- The stock updates come last, so the hot rows stay locked only until the commit.
-- Variables from the bench (-D): channel, level (service level id), wh (warehouse id).
\set s1 random(1, 100)
\set s2 random(101, 200)
\set s3 random(201, 300)
\set q1 random(1, 3)
\set q2 random(1, 3)
\set q3 random(1, 3)
BEGIN;
INSERT INTO orders_order (created_at, updated_at, number, external_reference, status, currency,
    total_amount, priority, customer_email, customer_name, customer_phone, customer_phone_key,
    shipping_name, shipping_line1, shipping_line2, shipping_city, shipping_postcode,
    shipping_postcode_key, shipping_region, shipping_country, placed_at, channel_id,
    service_level_id)
  SELECT now(), now(), 'PG-' || n, 'PGB-' || n, 'allocated', 'EUR', 19.95 * (:q1::int + :q2::int + :q3::int),
    0, 'pgbench@example.com', 'Bench Customer', '', '', 'Bench Customer', '1 Bench Street', '',
    'Amsterdam', '1011 AB', '1011AB', '', 'NL', now(), :channel::bigint, :level::bigint
  FROM nextval('orders_order_number_seq') AS n
  RETURNING id AS order_id \gset
INSERT INTO orders_orderline (order_id, line_number, product_id, sku, quantity, unit_price,
    quantity_shipped, quantity_delivered, quantity_returned, quantity_cancelled)
  SELECT :order_id::bigint, v.line, p.id, p.sku, v.q, 19.95, 0, 0, 0, 0
  FROM (VALUES (1, :s1::int, :q1::int), (2, :s2::int, :q2::int), (3, :s3::int, :q3::int)) AS v(line, s, q)
  JOIN inventory_product p ON p.sku = 'BENCH-' || lpad(v.s::text, 4, '0');
INSERT INTO inventory_stockmovement (type, on_hand_delta, reserved_delta, reason, reference,
    note, created_at, actor_id, order_id, product_id, warehouse_id)
  SELECT 'reservation', 0, v.q, '', 'order:' || 'PG', '', now(), NULL, :order_id::bigint, p.id, :wh::bigint
  FROM (VALUES (:s1::int, :q1::int), (:s2::int, :q2::int), (:s3::int, :q3::int)) AS v(s, q)
  JOIN inventory_product p ON p.sku = 'BENCH-' || lpad(v.s::text, 4, '0');
UPDATE inventory_stocklevel SET reserved = reserved + :q1::int, updated_at = now()
  WHERE warehouse_id = :wh::bigint
    AND product_id = (SELECT id FROM inventory_product WHERE sku = 'BENCH-' || lpad(:s1::text, 4, '0'));
UPDATE inventory_stocklevel SET reserved = reserved + :q2::int, updated_at = now()
  WHERE warehouse_id = :wh::bigint
    AND product_id = (SELECT id FROM inventory_product WHERE sku = 'BENCH-' || lpad(:s2::text, 4, '0'));
UPDATE inventory_stocklevel SET reserved = reserved + :q3::int, updated_at = now()
  WHERE warehouse_id = :wh::bigint
    AND product_id = (SELECT id FROM inventory_product WHERE sku = 'BENCH-' || lpad(:s3::text, 4, '0'));
COMMIT;
