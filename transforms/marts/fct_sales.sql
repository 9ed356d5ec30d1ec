/*
description: |
  Sales line items with the vendor's money definitions applied per line: gross = the line total (after its
  discount); net = round(gross / (1 + VAT rate / 100), 2) rounded half-up; tax = gross - net; cost = round(quantity x
  unit cost, 2); profit = net - cost. Lines of every transaction are kept; filter `is_counted` to count what the
  vendor's analytics count (paid transactions that ended with a purchase).
grain: one line item of a transaction
unique:
  - [transaction_id, line_number]
not_null: [transaction_id, line_number, kiosk_serial_number, product_meta_id, sold_at_utc, date_key,
  quantity, gross_amount, net_amount, tax_amount, cost_amount, profit_amount, currency, payment_method_key]
relationships:
  - transaction_id: fct_transactions.transaction_id
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - product_key: dim_product.product_key
  - date_key: dim_date.date_key
  - payment_method_key: dim_payment_method.payment_method_key
versions:
  product_key: {at: sold_at_utc, natural_key: product_meta_id}
incremental:
  key: transaction_id
  # the lines of the transactions rebuilt in fct_transactions, and those a product's changed versions now
  # assign to another product_key: from the first instant where its old and new versions differ
  changed: |
    WITH new_versions AS (
        SELECT product_key, product_meta_id, effective_from, effective_to FROM dim_product
    ),
    old_versions AS (
        SELECT product_key, product_meta_id, effective_from, effective_to FROM previous_dim_product
    ),
    differing AS (
        SELECT * FROM (SELECT * FROM new_versions EXCEPT SELECT * FROM old_versions) AS n
        UNION ALL
        SELECT * FROM (SELECT * FROM old_versions EXCEPT SELECT * FROM new_versions) AS o
    ),
    changed_products AS (
        -- a version only cut short (or extended) keeps its key until the earlier of its two ends
        SELECT
            d.product_meta_id,
            min(CASE WHEN s.product_key IS NULL THEN d.effective_from ELSE LEAST(d.effective_to, s.effective_to) END)
                AS changed_from
        FROM differing AS d
        LEFT JOIN differing AS s
            ON s.product_key = d.product_key AND s.effective_from = d.effective_from
            AND s.effective_to <> d.effective_to
        GROUP BY d.product_meta_id
    )
    SELECT transaction_id, _dlt_id FROM changed_fct_transactions
    UNION
    SELECT t.transaction_id, t._dlt_id
    FROM stg_transaction_items AS i
    JOIN changed_products AS p ON p.product_meta_id = i.product_meta_id
    JOIN stg_transactions AS t ON t._dlt_id = i._dlt_parent_id
    WHERE t.created_at_utc >= p.changed_from
  history: [transactions]
indexes:
  transactions: [_dlt_id]
  transactions__items_purchased: [product_meta_id]
columns:
  transaction_id: Transaction the line belongs to.
  line_number: Position of the line in the transaction, from 1.
  kiosk_serial_number: Kiosk that sold it.
  product_key: Product version valid when it was sold (dim_product); null only for a product the catalog never listed (deleted before the first sync; product_meta_id and product_name still say which).
  product_meta_id: Product (meta) id.
  product_line_id: Product line (the product on a load cell, with its price) sold.
  product_name: Product name on the receipt.
  sold_at_utc: Time of the sale, UTC.
  sold_at_local: Time of the sale in the kiosk's time zone.
  date_key: Kiosk-local date of the sale, yyyymmdd (dim_date).
  local_date: Kiosk-local date of the sale.
  local_hour: Kiosk-local hour of the sale (0-23).
  quantity: Units sold.
  unit_price: Unit gross price.
  vat_rate: VAT rate in percent.
  gross_amount: Line gross = the line total, after the line discount.
  discount_amount: Line discount (gross).
  net_amount: Line net = round(gross / (1 + vat_rate/100), 2), half-up.
  tax_amount: Line tax = gross - net.
  unit_cost: Unit cost.
  cost_amount: Line cost = round(quantity x unit cost, 2).
  profit_amount: Line profit = net - cost.
  currency: Currency of every amount of the row (the transaction's, else the kiosk's).
  is_paid: The transaction was paid.
  ended_with_purchase: The session ended with a purchase.
  is_counted: Paid and ended with a purchase - the lines the vendor's analytics count.
  payment_method_key: Payment method of the transaction (dim_payment_method).
*/
WITH lines AS (
    SELECT
        t.transaction_id,
        i.line_number,
        t.kiosk_serial_number,
        i.product_meta_id,
        i.product_line_id,
        i.product_name,
        t.created_at_utc AS sold_at_utc,
        t.created_at_local AS sold_at_local,
        i.quantity,
        i.unit_price,
        i.vat_rate,
        i.total AS gross_amount,
        COALESCE(i.discount, 0) AS discount_amount,
        i.unit_cost,
        CAST(round(i.total * 100, 0) AS BIGINT) AS gross_cents,
        -- 1 + vat/100 scaled by 10^6, so the division below is exact integer arithmetic on both engines
        -- (DuckDB divides decimals in floating point, which can round a half cent the wrong way).
        1000000 + CAST(round(i.vat_rate * 10000, 0) AS BIGINT) AS vat_divisor,
        t.currency,
        t.is_paid,
        t.ended_with_purchase,
        t.date_key,
        t.local_date,
        t.local_hour,
        t.payment_method_key
    FROM stg_transaction_items AS i
    JOIN stg_transactions AS h ON h._dlt_id = i._dlt_parent_id
    -- the transaction's kiosk, local time, currency and payment come from fct_transactions, computed once
    JOIN fct_transactions AS t ON t.transaction_id = h.transaction_id
    WHERE changed_rows(i._dlt_parent_id, _dlt_id) AND changed_rows(t.transaction_id)
),
priced AS (
    SELECT
        l.*,
        CAST(
            CASE WHEN l.gross_cents < 0 THEN -1 ELSE 1 END
            * ((2 * abs(l.gross_cents) * 1000000 + l.vat_divisor) // (2 * l.vat_divisor))
            AS DECIMAL(18, 2)
        ) * 0.01 AS net_exact,
        round(l.quantity * l.unit_cost, 2) AS cost_exact
    FROM lines AS l
)
SELECT
    p.transaction_id,
    p.line_number,
    p.kiosk_serial_number,
    d.product_key,
    p.product_meta_id,
    p.product_line_id,
    p.product_name,
    p.sold_at_utc,
    p.sold_at_local,
    p.date_key,
    p.local_date,
    p.local_hour,
    p.quantity,
    CAST(p.unit_price AS DECIMAL(18, 6)) AS unit_price,
    CAST(p.vat_rate AS DECIMAL(9, 4)) AS vat_rate,
    CAST(p.gross_amount AS DECIMAL(18, 2)) AS gross_amount,
    CAST(p.discount_amount AS DECIMAL(18, 2)) AS discount_amount,
    CAST(p.net_exact AS DECIMAL(18, 2)) AS net_amount,
    CAST(p.gross_amount - p.net_exact AS DECIMAL(18, 2)) AS tax_amount,
    CAST(p.unit_cost AS DECIMAL(18, 6)) AS unit_cost,
    CAST(p.cost_exact AS DECIMAL(18, 2)) AS cost_amount,
    CAST(p.net_exact - p.cost_exact AS DECIMAL(18, 2)) AS profit_amount,
    p.currency,
    p.is_paid,
    p.ended_with_purchase,
    (p.is_paid AND p.ended_with_purchase) AS is_counted,
    p.payment_method_key
FROM priced AS p
LEFT JOIN dim_product AS d ON d.product_meta_id = p.product_meta_id AND valid_at(d, p.sold_at_utc)
