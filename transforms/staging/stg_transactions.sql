/*
description: Purchase sessions of GET /transactions (also sessions that ended without purchase), with kiosk-local time.
grain: one transaction (purchase session)
columns:
  transaction_id: Transaction id.
  kiosk_serial_number: Kiosk where the session happened.
  kiosk_name: Kiosk name as embedded in the transaction.
  created_at_utc: Session time, UTC.
  kiosk_timezone: IANA time zone of the kiosk used for the local time.
  created_at_local: Session time in the kiosk's own time zone (wall clock, daylight saving applied).
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
*/
WITH base AS (
    SELECT
        CAST(t.id AS BIGINT) AS transaction_id,
        CAST(t.kiosk__serial_number AS VARCHAR) AS kiosk_serial_number,
        CAST(t.kiosk__name AS VARCHAR) AS kiosk_name,
        timezone('UTC', CAST(t.created AS TIMESTAMPTZ)) AS created_at_utc,
        CAST(COALESCE(k.timezone, d.timezone) AS VARCHAR) AS kiosk_timezone,
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
        CAST(t.payment_method__membercard_id AS VARCHAR) AS membercard_id
    FROM raw.transactions AS t
    LEFT JOIN raw.kiosks AS k ON k.serial_number = t.kiosk__serial_number
    LEFT JOIN raw.kiosk_details AS d ON d.serial_number = t.kiosk__serial_number
),
-- Converting every row with its own zone costs DuckDB an ICU calendar per row (5x slower than a fixed zone).
-- A zone's offset only changes at a transition, so each (zone, UTC hour) is converted once; rows shift by
-- their hour's offset, and the rare hour holding a transition converts its rows one by one.
hour_offsets AS (
    SELECT
        kiosk_timezone,
        hour_utc,
        timezone(kiosk_timezone, timezone('UTC', hour_utc)) - hour_utc AS offset_at_start,
        timezone(kiosk_timezone, timezone('UTC', hour_utc + INTERVAL 1 HOUR)) - (hour_utc + INTERVAL 1 HOUR)
            AS offset_at_end
    FROM (SELECT DISTINCT kiosk_timezone, date_trunc('hour', created_at_utc) AS hour_utc FROM base) AS hours
)
SELECT
    b.transaction_id,
    b.kiosk_serial_number,
    b.kiosk_name,
    b.created_at_utc,
    b.kiosk_timezone,
    CASE
        WHEN o.offset_at_start = o.offset_at_end THEN b.created_at_utc + o.offset_at_start
        ELSE timezone(b.kiosk_timezone, timezone('UTC', b.created_at_utc))
    END AS created_at_local,
    b.transaction_type,
    b.user_id,
    b.total,
    b.discount_total,
    b.currency,
    b.is_paid,
    b.ended_with_purchase,
    b.session_closed_at_utc,
    b.payment_type,
    b.card_type,
    b.payment_card_type,
    b.membercard_id
FROM base AS b
LEFT JOIN hour_offsets AS o
    ON o.kiosk_timezone = b.kiosk_timezone AND o.hour_utc = date_trunc('hour', b.created_at_utc)
