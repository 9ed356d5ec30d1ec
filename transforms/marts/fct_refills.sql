/*
description: |
  Refill item lines with the values the vendor's refill statistics use, rounded half-up to the cent per line:
  cost value added = round(added x unit cost, 2), sales value added = round(added x unit price, 2), cost value
  removed = round(removed x unit cost, 2). Spoilage is `quantity_removed_expired`.
grain: one item line of a refill session
unique:
  - [refill_id, line_number]
not_null: [refill_id, line_number, kiosk_serial_number, product_meta_id, refilled_at_utc, date_key,
  quantity_added, quantity_removed, quantity_removed_expired, cost_value_added, sales_value_added, cost_value_removed,
  currency]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - product_key: dim_product.product_key
  - date_key: dim_date.date_key
versions:
  product_key: {at: refilled_at_utc, natural_key: product_meta_id}
incremental:
  key: refill_id
  # the refills of new loads, every refill of a kiosk whose time zone or currency changed, and every refill
  # of a product whose versions changed (refills are few: all of them rather than from the change on)
  changed: |
    SELECT r.refill_id, r._dlt_id
    FROM stg_refills AS r
    WHERE r._dlt_load_id IN (SELECT load_id FROM new_loads)
        OR r.kiosk_serial_number IN (
            SELECT kiosk_serial_number FROM changed_keys(dim_kiosk, kiosk_serial_number, timezone, currency) AS k
        )
    UNION
    SELECT r.refill_id, r._dlt_id
    FROM stg_refill_items AS i
    JOIN stg_refills AS r ON r._dlt_id = i._dlt_parent_id
    WHERE i.product_meta_id IN (
        SELECT product_meta_id
        FROM changed_keys(dim_product, product_meta_id, product_key, effective_from, effective_to) AS p
    )
  history: [refills]
indexes:
  refills: [[_dlt_load_id], [_dlt_id], [kiosk__serial_number]]
  refills__items_replenished: [[_dlt_parent_id], [product_meta_id]]
columns:
  refill_id: Refill session id.
  line_number: Position of the line in the refill, from 1.
  kiosk_serial_number: Kiosk refilled.
  product_key: Product version valid at the refill (dim_product); null only for a product the catalog never listed (deleted before the first sync; product_meta_id and product_name still say which).
  product_meta_id: Product (meta) id.
  product_line_id: Product line refilled.
  product_name: Product name.
  planogram_position: Load cell position.
  refilled_at_utc: Refill time, UTC.
  refilled_at_local: Refill time in the kiosk's time zone.
  date_key: Kiosk-local date of the refill, yyyymmdd (dim_date).
  local_date: Kiosk-local date of the refill.
  refill_type: manual or pin.
  operator_user_id: Operator who refilled.
  quantity_added: Units added.
  quantity_removed: Units removed (all reasons).
  quantity_removed_expired: Units removed because they were past expiry (spoilage); part of quantity_removed.
  unit_cost: Unit cost.
  unit_price: Unit gross price.
  cost_value_added: round(added x unit cost, 2).
  sales_value_added: round(added x unit price, 2) (gross).
  cost_value_removed: round(removed x unit cost, 2).
  cost_value_removed_expired: round(removed expired x unit cost, 2) - the cost of spoilage.
  expiration_date: Expiry date of the units added.
  currency: Currency of every amount of the row (the kiosk's).
*/
WITH refills AS (
    SELECT
        r.*,
        k.currency,
        local_time(r.created_at_utc, k.timezone) AS created_at_local
    FROM stg_refills AS r
    LEFT JOIN int_kiosks AS k ON k.kiosk_serial_number = r.kiosk_serial_number
    WHERE changed_rows(r._dlt_id)
)
SELECT
    r.refill_id,
    i.line_number,
    r.kiosk_serial_number,
    d.product_key,
    i.product_meta_id,
    i.product_line_id,
    i.product_name,
    i.planogram_position,
    r.created_at_utc AS refilled_at_utc,
    r.created_at_local AS refilled_at_local,
    date_key(r.created_at_local) AS date_key,
    CAST(r.created_at_local AS DATE) AS local_date,
    r.refill_type,
    r.operator_user_id,
    COALESCE(i.added, 0) AS quantity_added,
    COALESCE(i.removed, 0) AS quantity_removed,
    COALESCE(i.removed_expired, 0) AS quantity_removed_expired,
    i.unit_cost,
    i.unit_price,
    CAST(round(COALESCE(i.added, 0) * i.unit_cost, 2) AS DECIMAL(18, 2)) AS cost_value_added,
    CAST(round(COALESCE(i.added, 0) * i.unit_price, 2) AS DECIMAL(18, 2)) AS sales_value_added,
    CAST(round(COALESCE(i.removed, 0) * i.unit_cost, 2) AS DECIMAL(18, 2)) AS cost_value_removed,
    CAST(round(COALESCE(i.removed_expired, 0) * i.unit_cost, 2) AS DECIMAL(18, 2)) AS cost_value_removed_expired,
    i.expiration_date,
    r.currency
FROM stg_refill_items AS i
JOIN refills AS r ON r._dlt_id = i._dlt_parent_id
LEFT JOIN dim_product AS d ON d.product_meta_id = i.product_meta_id AND valid_at(d, r.created_at_utc)
WHERE changed_rows(i._dlt_parent_id, _dlt_id)
