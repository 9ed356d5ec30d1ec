/*
model: fct_inventory_daily
description: The daily stock is never negative and never above the cell's capacity.
*/
SELECT date_key, kiosk_serial_number, load_cell_id, quantity_on_hand, capacity
FROM fct_inventory_daily
WHERE quantity_on_hand < 0
    OR quantity_on_hand > capacity
