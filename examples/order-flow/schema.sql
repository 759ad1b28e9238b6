-- The order flow demo: three systems, each in its own PostgreSQL database, as in production:
--   shop  (the online shop)       orders.created_at        an order is placed
--   mes   (the MES, via its API)  mes_orders.received_at   the MES API accepted it
--   crm   (the CRM)               deals.created_at         the CRM opened a deal for it
-- Run by seed.sh as: psql -v shop=... -v mes=... -v crm=... -f schema.sql
-- Each database gets a read-only role for the agent, `dozor_reader`, with SELECT on the one
-- table it reads, and an index on the time column, so `WHERE <time> > $1` stays cheap.

\connect :shop
CREATE TABLE orders (
    id          bigserial   PRIMARY KEY,
    customer    text        NOT NULL,
    total       numeric     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_created_at ON orders (created_at);
GRANT SELECT ON orders TO dozor_reader;

\connect :mes
CREATE TABLE mes_orders (
    shop_order_id text        PRIMARY KEY,   -- the shop's order id, as the MES API received it
    status        text        NOT NULL DEFAULT 'queued',
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mes_orders_received_at ON mes_orders (received_at);
GRANT SELECT ON mes_orders TO dozor_reader;

\connect :crm
CREATE TABLE deals (
    id          bigserial   PRIMARY KEY,
    external_id text        NOT NULL UNIQUE, -- the shop's order id
    stage       text        NOT NULL DEFAULT 'new',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deals_created_at ON deals (created_at);
GRANT SELECT ON deals TO dozor_reader;
