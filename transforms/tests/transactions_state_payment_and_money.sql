/*
model: stg_transactions
description: Every transaction states what the sales marts count by - paymentMethod.isPaid and paymentType, session.details.endedWithPurchase, total and discountTotal (all required by the contract). One without them (the API stopped sending a field, or sent money that is not a number) would silently drop out of the counted sales, so the build fails and the previous marts stay. An incremental build checks the transactions it rebuilt (the others were checked when they were built).
changed_keys_of: fct_transactions
*/
SELECT transaction_id, created_at_utc, is_paid, payment_type, ended_with_purchase, total, discount_total
FROM stg_transactions
WHERE changed_rows(_dlt_id)
    AND (
        is_paid IS NULL
        OR payment_type IS NULL
        OR ended_with_purchase IS NULL
        OR total IS NULL
        OR discount_total IS NULL
    )
