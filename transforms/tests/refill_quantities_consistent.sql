/*
model: fct_refills
description: Refill quantities are never negative and spoiled units are part of the removed units.
*/
SELECT refill_id, line_number, quantity_added, quantity_removed, quantity_removed_expired
FROM fct_refills
WHERE quantity_added < 0
    OR quantity_removed < 0
    OR quantity_removed_expired < 0
    OR quantity_removed_expired > quantity_removed
