/*
description: Kiosk details of GET /kiosks/{serialNumber} (one request per kiosk; the inventory is loaded separately as kiosk_inventory).
grain: one kiosk
columns:
  kiosk_serial_number: Kiosk serial number.
  name: Kiosk name.
  organization_id: Owner organization id (sent as a string, cast to the organizations' numeric id).
  timezone: IANA time zone of the kiosk.
  owner_organization_name: Name of the owner organization.
  owner_currency: Currency of the owner organization (upper case).
  controller_payment_type: Payment setup of the kiosk controller (e.g. CreditOrDebitCard).
  controller_pre_auth: Pre-authorization amount of the controller.
  controller_tablet_lang: Language of the kiosk's tablet.
  minimum_age: Minimum customer age configured on the controller.
*/
SELECT
    CAST(d.serial_number AS VARCHAR) AS kiosk_serial_number,
    CAST(d.name AS VARCHAR) AS name,
    CAST(d.org_id AS BIGINT) AS organization_id,
    CAST(d.timezone AS VARCHAR) AS timezone,
    CAST(d.owner_organization__name AS VARCHAR) AS owner_organization_name,
    upper(CAST(d.owner_organization__currency AS VARCHAR)) AS owner_currency,
    CAST(d.controller__payment_type AS VARCHAR) AS controller_payment_type,
    CAST(d.controller__pre_auth AS DECIMAL(18, 2)) AS controller_pre_auth,
    CAST(d.controller__tablet_lang AS VARCHAR) AS controller_tablet_lang,
    CAST(d.controller__minimum_age AS INTEGER) AS minimum_age
FROM raw.kiosk_details AS d
