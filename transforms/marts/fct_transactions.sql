/*
description: |
  Purchase sessions, including sessions that ended without a purchase (total 0, no lines). Money is the
  transaction's own total (gross) and discount; net, tax, cost and profit are defined per line, so sum them from
  fct_sales by transaction_id. Filter `is_counted` to match the vendor's analytics.
grain: one purchase session (transaction)
unique:
  - transaction_id
not_null: [transaction_id, kiosk_serial_number, created_at_utc, date_key, is_paid, ended_with_purchase, item_count,
  gross_amount, discount_amount, currency, payment_method_key]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - date_key: dim_date.date_key
  - payment_method_key: dim_payment_method.payment_method_key
  - organization_id: dim_organization.organization_id
incremental:
  key: transaction_id
  # the transactions of new loads, and all of a kiosk whose organization, time zone or currency changed
  changed: |
    SELECT t.transaction_id, t._dlt_id
    FROM stg_transactions AS t
    WHERE t._dlt_load_id IN (SELECT load_id FROM new_loads)
    UNION
    SELECT t.transaction_id, t._dlt_id
    FROM stg_transactions AS t
    WHERE t.kiosk_serial_number IN (
        SELECT kiosk_serial_number
        FROM changed_keys(dim_kiosk, kiosk_serial_number, organization_id, timezone, currency) AS k
    )
  history: [transactions]
indexes:
  transactions: [[_dlt_load_id], [kiosk__serial_number]]
  transactions__items_purchased: [_dlt_parent_id]
columns:
  transaction_id: Transaction id.
  kiosk_serial_number: Kiosk of the session.
  organization_id: Kiosk owner organization.
  created_at_utc: Session time, UTC.
  created_at_local: Session time in the kiosk's time zone.
  date_key: Kiosk-local date, yyyymmdd (dim_date).
  local_date: Kiosk-local date.
  local_hour: Kiosk-local hour (0-23).
  user_id: Customer; 0 for anonymous.
  is_paid: Payment captured.
  ended_with_purchase: The session ended with a purchase.
  is_counted: Paid and ended with a purchase - what the vendor's analytics count.
  line_count: Number of line items.
  item_count: Units bought (sum of line quantities).
  gross_amount: Transaction total (gross, after discounts) as the API states it; equals the sum of the lines.
  discount_amount: Discount of the transaction (gross).
  currency: Currency of every amount of the row.
  payment_method_key: Payment method (dim_payment_method).
  payment_type: CARD, MEMBERCARD or FREE.
  card_type: Card brand, if any.
*/
WITH localized AS (
    SELECT
        t.*,
        k.organization_id,
        k.currency AS kiosk_currency,
        local_time(t.created_at_utc, k.timezone) AS created_at_local
    FROM stg_transactions AS t
    LEFT JOIN int_kiosks AS k ON k.kiosk_serial_number = t.kiosk_serial_number
    WHERE changed_rows(t.transaction_id)
),
-- per dlt parent row: the lines need no join to their transaction to be counted
line_totals AS (
    SELECT
        _dlt_parent_id,
        count(*) AS line_count,
        sum(quantity) AS item_count
    FROM stg_transaction_items
    WHERE changed_rows(_dlt_parent_id, _dlt_id)
    GROUP BY _dlt_parent_id
)
SELECT
    t.transaction_id,
    t.kiosk_serial_number,
    t.organization_id,
    t.created_at_utc,
    t.created_at_local,
    date_key(t.created_at_local) AS date_key,
    CAST(t.created_at_local AS DATE) AS local_date,
    CAST(EXTRACT(HOUR FROM t.created_at_local) AS INTEGER) AS local_hour,
    t.user_id,
    COALESCE(t.is_paid, FALSE) AS is_paid,
    COALESCE(t.ended_with_purchase, FALSE) AS ended_with_purchase,
    (COALESCE(t.is_paid, FALSE) AND COALESCE(t.ended_with_purchase, FALSE)) AS is_counted,
    CAST(COALESCE(l.line_count, 0) AS INTEGER) AS line_count,
    CAST(COALESCE(l.item_count, 0) AS INTEGER) AS item_count,
    CAST(COALESCE(t.total, 0) AS DECIMAL(18, 2)) AS gross_amount,
    CAST(COALESCE(t.discount_total, 0) AS DECIMAL(18, 2)) AS discount_amount,
    COALESCE(t.currency, t.kiosk_currency) AS currency,
    COALESCE(t.payment_type, 'UNKNOWN') || ':' || COALESCE(t.card_type, 'none') AS payment_method_key,
    t.payment_type,
    t.card_type
FROM localized AS t
LEFT JOIN line_totals AS l ON l._dlt_parent_id = t._dlt_id
