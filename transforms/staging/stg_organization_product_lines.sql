/*
description: Product lines (product on a load cell with its current price) per organization (GET /organizations/{id}/product-lines).
grain: one product line
columns:
  product_line_id: Product line id (the API sends it as a string `_id`; cast to a number like every other product line id).
  organization_id: Organization the line was listed for.
  name: Product name on the line.
  product_meta_id: Product (meta) id.
  kiosk_serial_number: Kiosk holding the line.
  planogram_position: Load cell position (e.g. A11).
  price: Current gross unit price.
  vat_rate: VAT rate in percent.
  price_valid_from_utc: Start of the current price, UTC.
*/
SELECT
    CAST(pl._id AS BIGINT) AS product_line_id,
    CAST(pl.organization_id AS BIGINT) AS organization_id,
    CAST(pl.name AS VARCHAR) AS name,
    CAST(pl.product_meta_id AS BIGINT) AS product_meta_id,
    CAST(pl.kiosk_serial_number AS VARCHAR) AS kiosk_serial_number,
    CAST(pl.planogram_position AS VARCHAR) AS planogram_position,
    CAST(pl.price AS DECIMAL(18, 2)) AS price,
    CAST(pl.vat_rate AS DECIMAL(9, 4)) AS vat_rate,
    timezone('UTC', CAST(pl.valid_from AS TIMESTAMPTZ)) AS price_valid_from_utc
FROM raw.organization_product_lines AS pl
