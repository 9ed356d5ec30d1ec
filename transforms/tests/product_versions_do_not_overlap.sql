/*
model: dim_product
description: A product's versions follow each other without overlap, and at most one version is current.
*/
WITH ordered AS (
    SELECT product_meta_id, version_number, valid_from, valid_to, is_current,
        lead(valid_from) OVER (PARTITION BY product_meta_id ORDER BY version_number) AS next_valid_from,
        sum(CASE WHEN is_current THEN 1 ELSE 0 END) OVER (PARTITION BY product_meta_id) AS current_versions
    FROM dim_product
)
SELECT product_meta_id, version_number, valid_from, valid_to, next_valid_from, current_versions
FROM ordered
WHERE (next_valid_from IS NOT NULL AND valid_to IS DISTINCT FROM next_valid_from)
    OR valid_to <= valid_from
    OR current_versions > 1
