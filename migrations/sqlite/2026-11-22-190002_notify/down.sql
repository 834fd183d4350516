DROP INDEX alert_deliveries_alert;
DROP INDEX alert_deliveries_due;
DROP TABLE alert_deliveries;
DROP TABLE alert_outbox;
DROP TABLE user_emails;
