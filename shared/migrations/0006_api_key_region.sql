-- The country an adapter's numbers are local to: phone numbers it sends without a country code are read in
-- this region (ISO 3166 alpha-2). NULL: the service's own default region.
ALTER TABLE api_key ADD COLUMN region text CHECK (region ~ '^[A-Z]{2}$');
