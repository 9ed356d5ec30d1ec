/*
description: |
  Product catalog as a type 2 slowly changing dimension: one row per version of a product, so a sale joins the
  version that was valid when it was sold. Validity uses business time, not load time: a version is valid from the
  product's `updatedAt` (the first version we ever saw from the product's `createdAt`, because older versions
  are unknown to us) until the next version's `updatedAt`. dlt records a new raw version whenever any field
  changes; raw versions sharing one `updatedAt` collapse into the latest loaded one. A product that disappeared
  from the API's full listing is deleted: its last version ends at the load that noticed it (load time is the only
  time we have for a deletion), yet facts still join it after that: a deleted product's units left in a fridge are
  sold and removed, and the load time of a deletion may lie before the vendor's time of those events.
grain: one product (meta) version
unique:
  - product_key
  - [product_meta_id, version_number]
not_null: [product_key, product_meta_id, version_number, valid_from, is_current, is_deleted, effective_from,
  effective_to]
columns:
  product_key: Surrogate key of the version, "<product_meta_id>-<version_number>"; facts store it.
  product_meta_id: Product (meta) id.
  version_number: 1 for the oldest version known, counting up.
  name: Product name in this version.
  manufacturer: Manufacturer.
  category: Category.
  description: Description.
  article_number: Article number.
  ean: EAN.
  organization_id: Owning organization.
  currency: Currency of the list prices.
  list_price: Gross list price in this version.
  list_net_price: Net list price in this version.
  unit_cost: Unit cost in this version.
  vat_rate: VAT rate in percent.
  weight: Weight in weight_unit.
  weight_unit: Unit of weight.
  shelf_life_days: Shelf life in days.
  valid_from: Start of validity, UTC (business time, see the description).
  valid_to: End of validity, UTC, exclusive; null while the version is current.
  is_current: This is the product's current version (not replaced, not deleted).
  is_deleted: The product was deleted; set on its last version.
  effective_from: Join helper - valid_from, except that the first version is open to the past (1900-01-01), so events older than the oldest known version still find a product.
  effective_to: Join helper - valid_to, except that the last version (current or deleted) is open to the future (9999-12-31), so events after a deletion (the units left in a fridge, sold or removed) still find their product. Join facts with `effective_from <= event time < effective_to`.
  loaded_from_utc: When dlt loaded this version (load time), for audit.
*/
WITH versions AS (
    SELECT
        p.*,
        COALESCE(p.updated_at_utc, p.loaded_from_utc) AS changed_at,
        row_number() OVER (
            PARTITION BY p.product_meta_id, COALESCE(p.updated_at_utc, p.loaded_from_utc)
            ORDER BY p.loaded_from_utc DESC
        ) AS duplicate_rank
    FROM stg_products AS p
),
ordered AS (
    SELECT
        v.*,
        row_number() OVER (PARTITION BY v.product_meta_id ORDER BY v.changed_at) AS version_number,
        lead(v.changed_at) OVER (PARTITION BY v.product_meta_id ORDER BY v.changed_at) AS next_changed_at
    FROM versions AS v
    WHERE v.duplicate_rank = 1
)
SELECT
    CAST(o.product_meta_id AS VARCHAR) || '-' || CAST(o.version_number AS VARCHAR) AS product_key,
    o.product_meta_id,
    CAST(o.version_number AS INTEGER) AS version_number,
    o.name,
    o.manufacturer,
    o.category,
    o.description,
    o.article_number,
    o.ean,
    o.organization_id,
    o.currency,
    o.list_price,
    o.list_net_price,
    o.unit_cost,
    o.vat_rate,
    o.weight,
    o.weight_unit,
    o.shelf_life_days,
    CASE
        WHEN o.version_number = 1 THEN LEAST(COALESCE(o.created_at_utc, o.changed_at), o.changed_at)
        ELSE o.changed_at
    END AS valid_from,
    CASE
        WHEN o.next_changed_at IS NOT NULL THEN o.next_changed_at
        WHEN o.loaded_to_utc IS NOT NULL THEN o.loaded_to_utc
    END AS valid_to,
    (o.next_changed_at IS NULL AND o.loaded_to_utc IS NULL) AS is_current,
    (o.next_changed_at IS NULL AND o.loaded_to_utc IS NOT NULL) AS is_deleted,
    CASE
        WHEN o.version_number = 1 THEN CAST('1900-01-01 00:00:00' AS TIMESTAMP)
        ELSE o.changed_at
    END AS effective_from,
    COALESCE(o.next_changed_at, CAST('9999-12-31 00:00:00' AS TIMESTAMP)) AS effective_to,
    o.loaded_from_utc
FROM ordered AS o
