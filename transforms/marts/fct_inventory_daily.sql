/*
description: |
  Periodic snapshot for BI charts: the stock of every load cell at the last snapshot of each kiosk-local day.
  Days without a sync have no row (stock is not carried forward).
grain: one load cell per kiosk-local day (the day's last snapshot)
unique:
  - [date_key, kiosk_serial_number, load_cell_id]
not_null: [snapshot_at_utc, date_key, kiosk_serial_number, load_cell_id, quantity_on_hand, currency]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - product_key: dim_product.product_key
  - date_key: dim_date.date_key
columns:
  snapshot_at_utc: Time of the day's last snapshot, UTC.
  snapshot_at_local: That time in the kiosk's time zone.
  date_key: Kiosk-local date, yyyymmdd (dim_date).
  local_date: Kiosk-local date.
  kiosk_serial_number: Kiosk.
  load_cell_id: Load cell id.
  planogram_position: Load cell position.
  product_line_id: Product line on the cell; null when empty.
  product_meta_id: Product (meta) on the cell; null when empty.
  product_key: Product version valid at the snapshot (dim_product).
  product_name: Product name.
  quantity_on_hand: Units available for purchase at the end of the day.
  capacity: Capacity in units.
  fill_rate: quantity_on_hand / capacity, 4 decimals.
  is_empty_cell: No product line assigned.
  is_stock_out: A product is assigned but no unit is available.
  unit_price: Unit gross price.
  unit_cost: Unit cost.
  stock_value_gross: round(quantity x unit price, 2).
  stock_value_cost: round(quantity x unit cost, 2).
  next_expiration_date: Earliest expiry date in the cell.
  currency: Currency of every amount of the row.
*/
WITH ranked AS (
    SELECT
        s.*,
        row_number() OVER (
            PARTITION BY s.kiosk_serial_number, s.load_cell_id, s.date_key ORDER BY s.snapshot_at_utc DESC
        ) AS day_rank
    FROM fct_inventory_snapshot AS s
)
SELECT
    snapshot_at_utc,
    snapshot_at_local,
    date_key,
    local_date,
    kiosk_serial_number,
    load_cell_id,
    planogram_position,
    product_line_id,
    product_meta_id,
    product_key,
    product_name,
    quantity_on_hand,
    capacity,
    fill_rate,
    is_empty_cell,
    is_stock_out,
    unit_price,
    unit_cost,
    stock_value_gross,
    stock_value_cost,
    next_expiration_date,
    currency
FROM ranked
WHERE day_rank = 1
