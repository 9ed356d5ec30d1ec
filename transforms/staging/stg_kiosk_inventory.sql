/*
description: Load cells of every kiosk at every sync (GET /kiosks/{serialNumber}/inventory; append-only snapshots).
grain: one load cell of one kiosk at one snapshot
columns:
  snapshot_at_utc: When the sync took the snapshot, UTC (one value per sync run).
  kiosk_serial_number: Kiosk.
  load_cell_id: Load cell id.
  planogram_position: Load cell position (e.g. A11).
  cell_id: Hardware cell id.
  surface_size: Surface size of the cell.
  product_line_id: Product line on the cell; null for an empty cell.
  product_meta_id: Product (meta) id on the cell; null for an empty cell.
  product_name: Product name.
  manufacturer: Product manufacturer.
  unit_price: Unit gross price of the line.
  vat_rate: VAT rate in percent.
  unit_cost: Unit cost.
  capacity: Capacity of the cell in units.
  quantity_on_hand: Units available for purchase.
  next_expiration_date: Earliest expiry date of the units in the cell.
  load_id: dlt load that appended the row (to drop duplicates of a retried load).
*/
SELECT
    timezone('UTC', CAST(i.snapshot_at AS TIMESTAMPTZ)) AS snapshot_at_utc,
    CAST(i.kiosk_serial_number AS VARCHAR) AS kiosk_serial_number,
    CAST(i.load_cell_id AS BIGINT) AS load_cell_id,
    CAST(i.planogram_position AS VARCHAR) AS planogram_position,
    CAST(i.cell_id AS BIGINT) AS cell_id,
    CAST(i.surface_size AS DOUBLE) AS surface_size,
    CAST(i.product_line_data__product_line_id AS BIGINT) AS product_line_id,
    CAST(i.product_line_data__product_meta_id AS BIGINT) AS product_meta_id,
    CAST(i.product_line_data__name AS VARCHAR) AS product_name,
    CAST(i.product_line_data__manufacturer AS VARCHAR) AS manufacturer,
    CAST(i.product_line_data__price AS DECIMAL(18, 6)) AS unit_price,
    CAST(i.product_line_data__vat_rate AS DECIMAL(9, 4)) AS vat_rate,
    CAST(i.product_line_data__cost AS DECIMAL(18, 6)) AS unit_cost,
    CAST(i.product_line_data__capacity AS INTEGER) AS capacity,
    CAST(i.product_line_data__count AS INTEGER) AS quantity_on_hand,
    CAST(i.product_line_data__next_expiration_date AS DATE) AS next_expiration_date,
    CAST(i._dlt_load_id AS VARCHAR) AS load_id
FROM raw.kiosk_inventory AS i
