/*
model: fct_transactions
scope: changed_rows
description: Every money fact carries the currency of its kiosk; a transaction's stated currency matches its kiosk's.
*/
SELECT t.transaction_id, t.kiosk_serial_number, t.currency, k.currency AS kiosk_currency
FROM fct_transactions AS t
JOIN dim_kiosk AS k ON k.kiosk_serial_number = t.kiosk_serial_number
WHERE t.currency IS DISTINCT FROM k.currency
