-- Tracked registration (002 §2.2, RULES.md "Customers and grades"): every contact of a high-risk customer is
-- registered here, in the transaction that accepts it (or adds a message to it, or makes its customer high-risk
-- while it is open); `GET /v1/customers/tracked` lists them with who handled them. A registration stays when the
-- customer's risk level later drops: it records that the contact came in under tracking.
CREATE TABLE tracked_contact (
    contact_id     uuid        PRIMARY KEY REFERENCES contact (contact_id),
    customer_id    uuid        NOT NULL REFERENCES customer (customer_id),
    reason         text        NOT NULL,
    registered_at  timestamptz NOT NULL
);
CREATE INDEX tracked_contact_registered_idx ON tracked_contact (registered_at DESC, contact_id DESC);
CREATE INDEX tracked_contact_customer_idx ON tracked_contact (customer_id, registered_at DESC);
