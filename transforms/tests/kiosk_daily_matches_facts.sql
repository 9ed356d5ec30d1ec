/*
model: fct_kiosk_daily
description: Per kiosk, the days hold every session, counted purchase, revenue and refill of the facts; paid purchases are part of the sessions and quiet hours part of the usual opening hours.
*/
WITH daily AS (
    SELECT kiosk_serial_number, sum(sessions) AS sessions, sum(paid_purchases) AS paid,
        sum(revenue_gross) AS revenue, sum(refills) AS refills,
        sum(CASE WHEN paid_purchases > sessions OR quiet_opening_hours > usual_opening_hours THEN 1 ELSE 0 END)
            AS bad_days
    FROM fct_kiosk_daily
    GROUP BY kiosk_serial_number
),
facts AS (
    SELECT kiosk_serial_number, count(*) AS sessions, sum(CASE WHEN is_counted THEN 1 ELSE 0 END) AS paid,
        sum(CASE WHEN is_counted THEN gross_amount ELSE 0 END) AS revenue
    FROM fct_transactions
    GROUP BY kiosk_serial_number
),
refill_facts AS (
    SELECT kiosk_serial_number, count(DISTINCT refill_id) AS refills FROM fct_refills GROUP BY kiosk_serial_number
)
SELECT COALESCE(d.kiosk_serial_number, f.kiosk_serial_number) AS kiosk_serial_number, d.sessions, f.sessions
    AS fact_sessions, d.paid, f.paid AS fact_paid, d.revenue, f.revenue AS fact_revenue, d.refills,
    r.refills AS fact_refills, d.bad_days
FROM daily AS d
FULL OUTER JOIN facts AS f ON f.kiosk_serial_number = d.kiosk_serial_number
LEFT JOIN refill_facts AS r ON r.kiosk_serial_number = COALESCE(d.kiosk_serial_number, f.kiosk_serial_number)
-- a kiosk installed without a session yet has days of 0 sessions and no fact
WHERE d.sessions IS DISTINCT FROM COALESCE(f.sessions, 0)
    OR d.paid IS DISTINCT FROM COALESCE(f.paid, 0)
    OR d.revenue IS DISTINCT FROM COALESCE(f.revenue, 0)
    OR d.refills IS DISTINCT FROM COALESCE(r.refills, 0)
    OR d.bad_days > 0
