/*
description: |
  Stock of every load cell at every sync (each sync takes one snapshot of every kiosk). Empty cells are kept with
  null product columns. A snapshot appended twice by a retried load is counted once.
grain: one load cell at one snapshot
unique:
  - [snapshot_at_utc, kiosk_serial_number, load_cell_id]
not_null: [snapshot_at_utc, date_key, kiosk_serial_number, load_cell_id, quantity_on_hand, currency]
ranges:
  quantity_on_hand: [0, capacity]
  capacity: [0, ~]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - product_key: dim_product.product_key
  - date_key: dim_date.date_key
versions:
  product_key: {at: snapshot_at_utc, natural_key: product_meta_id}
columns:
  snapshot_at_utc: Snapshot time, UTC.
  snapshot_at_local: Snapshot time in the kiosk's time zone.
  date_key: Kiosk-local date of the snapshot, yyyymmdd (dim_date).
  local_date: Kiosk-local date of the snapshot.
  kiosk_serial_number: Kiosk.
  load_cell_id: Load cell id.
  planogram_position: Load cell position (e.g. A11).
  product_line_id: Product line on the cell; null when the cell is empty.
  product_meta_id: Product (meta) on the cell; null when the cell is empty.
  product_key: Product version valid at the snapshot (dim_product); null when the cell is empty or holds a product the catalog never listed.
  product_name: Product name.
  quantity_on_hand: Units available for purchase (0 for an empty cell).
  capacity: Capacity of the cell in units; null when the cell is empty.
  fill_rate: quantity_on_hand / capacity, 4 decimals.
  is_empty_cell: No product line assigned to the cell.
  is_stock_out: A product is assigned but no unit is available.
  unit_price: Unit gross price of the line.
  unit_cost: Unit cost of the line.
  stock_value_gross: round(quantity on hand x unit price, 2), the gross sales value of the stock; 0 for an empty cell.
  stock_value_cost: round(quantity on hand x unit cost, 2); 0 for an empty cell.
  next_expiration_date: Earliest expiry date of the units in the cell.
  currency: Currency of every amount of the row (the kiosk's).
*/
WITH snapshots AS (
    SELECT
        s.*,
        row_number() OVER (
            PARTITION BY s.snapshot_at_utc, s.kiosk_serial_number, s.load_cell_id ORDER BY s.load_id DESC
        ) AS copy_rank
    FROM stg_kiosk_inventory AS s
),
localized AS (
    SELECT
        s.*,
        k.currency,
        local_time(s.snapshot_at_utc, k.timezone) AS snapshot_at_local
    FROM snapshots AS s
    LEFT JOIN int_kiosks AS k ON k.kiosk_serial_number = s.kiosk_serial_number
    WHERE s.copy_rank = 1
)
SELECT
    s.snapshot_at_utc,
    s.snapshot_at_local,
    date_key(s.snapshot_at_local) AS date_key,
    CAST(s.snapshot_at_local AS DATE) AS local_date,
    s.kiosk_serial_number,
    s.load_cell_id,
    s.planogram_position,
    s.product_line_id,
    s.product_meta_id,
    d.product_key,
    s.product_name,
    COALESCE(s.quantity_on_hand, 0) AS quantity_on_hand,
    s.capacity,
    CASE
        WHEN s.capacity > 0 THEN
            CAST((COALESCE(s.quantity_on_hand, 0) * 20000 + s.capacity) // (2 * s.capacity) AS DECIMAL(9, 4)) * 0.0001
    END AS fill_rate,
    (s.product_meta_id IS NULL) AS is_empty_cell,
    (s.product_meta_id IS NOT NULL AND COALESCE(s.quantity_on_hand, 0) = 0) AS is_stock_out,
    s.unit_price,
    s.unit_cost,
    CAST(COALESCE(round(s.quantity_on_hand * s.unit_price, 2), 0) AS DECIMAL(18, 2)) AS stock_value_gross,
    CAST(COALESCE(round(s.quantity_on_hand * s.unit_cost, 2), 0) AS DECIMAL(18, 2)) AS stock_value_cost,
    s.next_expiration_date,
    s.currency
FROM localized AS s
LEFT JOIN dim_product AS d ON d.product_meta_id = s.product_meta_id AND valid_at(d, s.snapshot_at_utc)
