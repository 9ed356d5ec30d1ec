/*
description: Item lines of refills (the `itemsReplenished` list, loaded by dlt as refills__items_replenished).
grain: one item line of a refill session
columns:
  _dlt_parent_id: The refill the line belongs to, as dlt links child rows (stg_refills._dlt_id).
  line_number: Position of the line in the refill, from 1.
  product_line_id: Product line refilled.
  product_meta_id: Product (meta) id refilled.
  product_name: Product name.
  ean: EAN of the product, if any.
  planogram_position: Load cell position.
  added: Units added.
  removed: Units removed (all reasons).
  removed_expired: Part of removed that was past its expiry date.
  unit_cost: Unit cost.
  unit_price: Unit gross price.
  expiration_date: Expiry date of the units added.
*/
SELECT
    CAST(i._dlt_parent_id AS VARCHAR) AS _dlt_parent_id,
    CAST(i._dlt_list_idx AS INTEGER) + 1 AS line_number,
    CAST(i.product_line_id AS BIGINT) AS product_line_id,
    CAST(i.product_meta_id AS BIGINT) AS product_meta_id,
    CAST(i.name AS VARCHAR) AS product_name,
    CAST(i.ean AS VARCHAR) AS ean,
    CAST(i.planogram_position AS VARCHAR) AS planogram_position,
    CAST(i.added AS INTEGER) AS added,
    CAST(i.removed AS INTEGER) AS removed,
    CAST(i.removed_expired AS INTEGER) AS removed_expired,
    CAST(i.cost AS DECIMAL(18, 6)) AS unit_cost,
    CAST(i.price AS DECIMAL(18, 6)) AS unit_price,
    CAST(i.expiration_date AS DATE) AS expiration_date
FROM raw.refills__items_replenished AS i
