/*
model: fct_kiosk_daily
description: Each kiosk-day holds the sessions, counted purchases, revenue and refills of the facts of that kiosk and kiosk-local day, and every such day of the facts has its row; paid purchases are part of the sessions and quiet hours part of the usual opening hours. An incremental build checks the days it rebuilt.
changed_keys_of: fct_kiosk_daily
*/
-- one aggregate over the rows of all three, not joins of their aggregates (whose sizes the planner cannot
-- know, so it may nest them)
WITH tallies AS (
    SELECT kiosk_serial_number, date_key, 1 AS day_rows, sessions, paid_purchases AS paid,
        revenue_gross AS revenue, refills,
        CASE WHEN paid_purchases > sessions OR quiet_opening_hours > usual_opening_hours THEN 1 ELSE 0 END
            AS inconsistent,
        0 AS fact_sessions, 0 AS fact_paid, CAST(0 AS DECIMAL(18, 2)) AS fact_revenue, 0 AS fact_refills
    FROM fct_kiosk_daily
    WHERE changed_days(kiosk_serial_number, local_date, 0)
    UNION ALL
    SELECT kiosk_serial_number, date_key, 0, 0, 0, 0, 0, 0, 1, CASE WHEN is_counted THEN 1 ELSE 0 END,
        CASE WHEN is_counted THEN gross_amount ELSE 0 END, 0
    FROM fct_transactions
    WHERE changed_days(kiosk_serial_number, local_date, 0)
    UNION ALL
    SELECT kiosk_serial_number, date_key, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
    FROM (
        SELECT DISTINCT kiosk_serial_number, date_key, refill_id
        FROM fct_refills
        WHERE changed_days(kiosk_serial_number, local_date, 0)
    ) AS refill_sessions
)
SELECT
    kiosk_serial_number,
    date_key,
    sum(day_rows) AS day_rows,
    sum(sessions) AS sessions,
    sum(fact_sessions) AS fact_sessions,
    sum(paid) AS paid_purchases,
    sum(fact_paid) AS fact_paid,
    sum(revenue) AS revenue_gross,
    sum(fact_revenue) AS fact_revenue,
    sum(refills) AS refills,
    sum(fact_refills) AS fact_refills,
    sum(inconsistent) AS inconsistent
FROM tallies
GROUP BY kiosk_serial_number, date_key
-- a quiet day has its row and no facts
HAVING sum(day_rows) <> 1
    OR sum(sessions) <> sum(fact_sessions)
    OR sum(paid) <> sum(fact_paid)
    OR sum(revenue) <> sum(fact_revenue)
    OR sum(refills) <> sum(fact_refills)
    OR sum(inconsistent) > 0
