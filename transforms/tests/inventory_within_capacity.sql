/*
model: fct_inventory_snapshot
description: Stock on hand is never negative and never above the cell's capacity.
*/
SELECT snapshot_at_utc, kiosk_serial_number, load_cell_id, quantity_on_hand, capacity
FROM fct_inventory_snapshot
WHERE quantity_on_hand < 0
    OR quantity_on_hand > capacity
    OR capacity < 0
