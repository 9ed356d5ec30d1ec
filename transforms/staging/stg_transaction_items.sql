/*
description: Line items of transactions (the `itemsPurchased` list, loaded by dlt as transactions__items_purchased).
grain: one line item of a transaction
columns:
  _dlt_parent_id: The transaction the line belongs to, as dlt links child rows (stg_transactions._dlt_id).
  line_number: Position of the line in the transaction, from 1 (the API's list order).
  product_line_id: Product line (product on a load cell) sold.
  product_meta_id: Product (meta) id sold.
  product_name: Product name on the receipt.
  ean: EAN of the product, if any.
  planogram_position: Load cell position the product was taken from.
  quantity: Units sold.
  unit_price: Unit gross price.
  vat_rate: VAT rate in percent.
  discount: Line discount (gross).
  total: Line gross = quantity x unit price - discount.
  unit_cost: Unit cost.
*/
SELECT
    CAST(i._dlt_parent_id AS VARCHAR) AS _dlt_parent_id,
    CAST(i._dlt_list_idx AS INTEGER) + 1 AS line_number,
    CAST(i.product_line_id AS BIGINT) AS product_line_id,
    CAST(i.product_meta_id AS BIGINT) AS product_meta_id,
    CAST(i.name AS VARCHAR) AS product_name,
    CAST(i.ean AS VARCHAR) AS ean,
    CAST(i.planogram_position AS VARCHAR) AS planogram_position,
    CAST(i.quantity AS INTEGER) AS quantity,
    CAST(i.price AS DECIMAL(18, 6)) AS unit_price,
    CAST(i.vat_rate AS DECIMAL(9, 4)) AS vat_rate,
    CAST(i.discount AS DECIMAL(18, 2)) AS discount,
    CAST(i.total AS DECIMAL(18, 2)) AS total,
    CAST(i.cost AS DECIMAL(18, 6)) AS unit_cost
FROM raw.transactions__items_purchased AS i
