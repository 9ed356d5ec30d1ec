/*
description: Purchase sessions of GET /transactions (also sessions that ended without purchase); their line items are stg_transaction_items.
grain: one transaction (purchase session)
columns:
  transaction_id: Transaction id.
  kiosk_serial_number: Kiosk where the session happened.
  kiosk_name: Kiosk name as embedded in the transaction.
  created_at_utc: Session time, UTC.
  transaction_type: Transaction type (purchase).
  user_id: Customer user id; 0 for anonymous.
  total: Transaction gross after discounts (sum of the line totals).
  discount_total: Discount granted on the transaction (gross).
  currency: Currency the API states on the transaction (may be null; marts fall back to the kiosk's).
  is_paid: Payment captured.
  ended_with_purchase: The session ended with a purchase.
  session_closed_at_utc: When the session closed, UTC; null while open.
  payment_type: CARD, MEMBERCARD or FREE.
  card_type: Card brand (Visa, Mastercard, Girocard, Amex, Maestro) or null.
  payment_card_type: Credit or Debit, or null.
  membercard_id: Member card used, if any.
  _dlt_id: dlt's id of the row; the transaction's line items point to it (stg_transaction_items._dlt_parent_id).
  _dlt_load_id: The dlt load that wrote the row last (an incremental build rebuilds the facts of new loads).
*/
SELECT
    CAST(t.id AS BIGINT) AS transaction_id,
    CAST(t.kiosk__serial_number AS VARCHAR) AS kiosk_serial_number,
    CAST(t.kiosk__name AS VARCHAR) AS kiosk_name,
    timezone('UTC', CAST(t.created AS TIMESTAMPTZ)) AS created_at_utc,
    CAST(t.type AS VARCHAR) AS transaction_type,
    CAST(t.user_id AS BIGINT) AS user_id,
    CAST(t.total AS DECIMAL(18, 2)) AS total,
    CAST(t.discount_total AS DECIMAL(18, 2)) AS discount_total,
    upper(CAST(t.currency AS VARCHAR)) AS currency,
    CAST(t.payment_method__is_paid AS BOOLEAN) AS is_paid,
    CAST(t.session__details__ended_with_purchase AS BOOLEAN) AS ended_with_purchase,
    timezone('UTC', CAST(t.session__details__session_closed_at AS TIMESTAMPTZ)) AS session_closed_at_utc,
    CAST(t.payment_method__payment_type AS VARCHAR) AS payment_type,
    CAST(t.payment_method__card_type AS VARCHAR) AS card_type,
    CAST(t.payment_method__payment_card_type AS VARCHAR) AS payment_card_type,
    CAST(t.payment_method__membercard_id AS VARCHAR) AS membercard_id,
    CAST(t._dlt_id AS VARCHAR) AS _dlt_id,
    CAST(t._dlt_load_id AS VARCHAR) AS _dlt_load_id
FROM raw.transactions AS t
