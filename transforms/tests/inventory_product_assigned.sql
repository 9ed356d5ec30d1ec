/*
model: fct_inventory_snapshot
description: A load cell holding a product joins the product version in effect at the snapshot (SCD2; a deleted
  product's units still in the cell join its last version; only a product the catalog never listed has none).
*/
SELECT s.snapshot_at_utc, s.kiosk_serial_number, s.load_cell_id, s.product_meta_id, s.product_key
FROM fct_inventory_snapshot AS s
LEFT JOIN dim_product AS p ON p.product_key = s.product_key
WHERE s.product_meta_id IS NOT NULL
    AND (
        (p.product_key IS NULL AND s.product_meta_id IN (SELECT product_meta_id FROM dim_product))
        OR p.product_meta_id <> s.product_meta_id
        OR s.snapshot_at_utc < p.effective_from
        OR s.snapshot_at_utc >= p.effective_to
    )
