/*
description: Payment methods seen in transactions, with the bucket the vendor's payment-type analytics count them in.
grain: one payment type x card type
unique:
  - payment_method_key
not_null: [payment_method_key, payment_type, vendor_category]
columns:
  payment_method_key: Key "<payment type>:<card type>" (card type "none" when the payment had no card).
  payment_type: CARD, MEMBERCARD or FREE.
  card_type: Card brand as the API sends it, or null.
  vendor_category: Bucket of the vendor's payment-type analytics - visa, mastercard, girocard, otherCreditCard, membercard or other (MEMBERCARD wins over any card brand; brands match case-insensitively).
*/
WITH methods AS (
    SELECT DISTINCT
        COALESCE(payment_type, 'UNKNOWN') AS payment_type,
        card_type
    FROM stg_transactions
)
SELECT
    payment_type || ':' || COALESCE(card_type, 'none') AS payment_method_key,
    payment_type,
    card_type,
    CASE
        WHEN upper(payment_type) = 'MEMBERCARD' THEN 'membercard'
        WHEN lower(card_type) IN ('visa', 'mastercard', 'girocard') THEN lower(card_type)
        WHEN card_type IS NOT NULL THEN 'otherCreditCard'
        ELSE 'other'
    END AS vendor_category
FROM methods
