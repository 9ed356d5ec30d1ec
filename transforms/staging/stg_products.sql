/*
description: Product catalog versions (GET /products loaded with dlt's scd2 strategy; one row per observed version).
grain: one observed version of one product (meta)
columns:
  product_meta_id: Product (meta) id.
  name: Product name.
  description: Product description.
  category: Product category.
  manufacturer: Manufacturer.
  article_number: Article number.
  ean: EAN.
  organization_id: Organization owning the product.
  organization_name: Name of that organization.
  currency: Currency of the organization (prices are in it).
  list_price: Gross list price (the API sends a decimal string).
  list_net_price: Net list price (the API sends a decimal string).
  unit_cost: Unit cost.
  vat_rate: VAT rate in percent.
  weight: Weight in weight_unit.
  weight_unit: Unit of weight (e.g. g).
  shelf_life_days: Shelf life in days.
  created_at_utc: Product creation time, UTC (business time).
  updated_at_utc: Last change of this version, UTC (business time).
  loaded_from_utc: When dlt first loaded this version (load time, UTC).
  loaded_to_utc: When dlt saw the version replaced or the product gone (load time, UTC); null while current.
*/
SELECT
    CAST(p.id AS BIGINT) AS product_meta_id,
    CAST(p.name AS VARCHAR) AS name,
    CAST(p.description AS VARCHAR) AS description,
    CAST(p.category AS VARCHAR) AS category,
    CAST(p.manufacturer AS VARCHAR) AS manufacturer,
    CAST(p.article_number AS VARCHAR) AS article_number,
    CAST(p.ean AS VARCHAR) AS ean,
    CAST(p.organization_id AS BIGINT) AS organization_id,
    CAST(p.organization_name AS VARCHAR) AS organization_name,
    upper(CAST(p.organization_currency AS VARCHAR)) AS currency,
    CAST(p.price AS DECIMAL(18, 2)) AS list_price,
    CAST(p.net_price AS DECIMAL(18, 2)) AS list_net_price,
    CAST(p.cost AS DECIMAL(18, 6)) AS unit_cost,
    CAST(p.vat_rate AS DECIMAL(9, 4)) AS vat_rate,
    CAST(p.weight AS DOUBLE) AS weight,
    CAST(p.weight_unit AS VARCHAR) AS weight_unit,
    CAST(p.shelf_life_days AS INTEGER) AS shelf_life_days,
    timezone('UTC', CAST(p.created_at AS TIMESTAMPTZ)) AS created_at_utc,
    timezone('UTC', CAST(p.updated_at AS TIMESTAMPTZ)) AS updated_at_utc,
    timezone('UTC', CAST(p._dlt_valid_from AS TIMESTAMPTZ)) AS loaded_from_utc,
    timezone('UTC', CAST(p._dlt_valid_to AS TIMESTAMPTZ)) AS loaded_to_utc
FROM raw.products AS p
