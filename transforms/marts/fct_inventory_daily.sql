/*
description: |
  Periodic snapshot for BI charts: the stock of every load cell at the last snapshot of each kiosk-local day,
  i.e. the rows of fct_inventory_snapshot that no later snapshot of the same cell and local day follows.
  Days without a sync have no row (stock is not carried forward).
grain: one load cell per kiosk-local day (the day's last snapshot)
unique:
  - [date_key, kiosk_serial_number, load_cell_id]
# the rows of fct_inventory_snapshot, so its columns, not-null checks and joins; these describe the day
same_columns_as: fct_inventory_snapshot
columns:
  snapshot_at_utc: Time of the day's last snapshot, UTC.
  snapshot_at_local: That time in the kiosk's time zone.
  quantity_on_hand: Units available for purchase at the end of the day (0 for an empty cell).
*/
SELECT s.*
FROM fct_inventory_snapshot AS s
WHERE NOT EXISTS (
    SELECT 1
    FROM fct_inventory_snapshot AS later
    WHERE later.kiosk_serial_number = s.kiosk_serial_number
        AND later.load_cell_id = s.load_cell_id
        AND later.date_key = s.date_key
        AND later.snapshot_at_utc > s.snapshot_at_utc
)
