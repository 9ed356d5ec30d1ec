/*
model: fct_sales
description: Each sales line joins the product version valid at the time of the sale (SCD2).
*/
SELECT s.transaction_id, s.line_number, s.sold_at_utc, s.product_key, p.valid_from, p.valid_to
FROM fct_sales AS s
JOIN dim_product AS p ON p.product_key = s.product_key
WHERE p.product_meta_id <> s.product_meta_id
    OR (s.sold_at_utc < p.valid_from AND p.version_number <> 1)
    OR s.sold_at_utc >= p.valid_to
