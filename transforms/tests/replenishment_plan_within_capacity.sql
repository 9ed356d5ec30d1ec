/*
model: fct_replenishment_plan
description: A refill suggestion is never negative and never fills a cell beyond its capacity once the expiring units are removed; expiring units are part of the stock on hand.
*/
SELECT kiosk_serial_number, load_cell_id, quantity_on_hand, capacity, units_expiring_before_next_visit,
    suggested_refill_quantity
FROM fct_replenishment_plan
WHERE suggested_refill_quantity < 0
    OR quantity_on_hand - COALESCE(units_expiring_before_next_visit, 0) + suggested_refill_quantity > capacity
    OR units_expiring_before_next_visit < 0
    OR units_expiring_before_next_visit > quantity_on_hand
    OR (capacity IS NULL AND suggested_refill_quantity <> 0)
    OR avg_units_sold_per_day < 0
