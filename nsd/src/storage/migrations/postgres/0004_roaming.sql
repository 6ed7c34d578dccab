-- Roam-out per device (passive roaming through partners' gateways): 1 allowed, 0 not.
ALTER TABLE devices ADD COLUMN roaming INTEGER NOT NULL DEFAULT 0;
