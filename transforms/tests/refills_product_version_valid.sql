/*
model: fct_refills
description: Each refill line joins the product version valid at the time of the refill (SCD2).
*/
SELECT r.refill_id, r.line_number, r.refilled_at_utc, r.product_key, p.valid_from, p.valid_to
FROM fct_refills AS r
JOIN dim_product AS p ON p.product_key = r.product_key
WHERE p.product_meta_id <> r.product_meta_id
    OR (r.refilled_at_utc < p.valid_from AND p.version_number <> 1)
    OR r.refilled_at_utc >= p.valid_to
