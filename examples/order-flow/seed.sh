#!/bin/sh
# Creates the demo's three databases on the local PostgreSQL and fills them with 3 hours of
# orders: 500 placed in the shop, of which
#   3 never reached the MES         (lost between shop and mes: reported after its 10m SLA)
#   2 reached the MES, not the CRM  (lost between mes and crm: reported after its 15m SLA)
#   5 placed a minute ago           (in flight: not lost yet)
# and prints the ids that were lost, to compare with what the agent reports.
#
#   ./seed.sh            # PGHOST=127.0.0.1 PGUSER=postgres by default
#   ./seed.sh drop       # removes the databases and the role
set -eu
export PGHOST="${PGHOST:-127.0.0.1}" PGUSER="${PGUSER:-postgres}"
SHOP=dozor_demo_shop MES=dozor_demo_mes CRM=dozor_demo_crm
here=$(dirname "$0")
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

for db in $SHOP $MES $CRM; do
    psql_q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done
if [ "${1:-}" = drop ]; then
    psql_q -d postgres -c "DROP ROLE IF EXISTS dozor_reader"
    exit 0
fi
psql_q -d postgres -c "DO \$\$ BEGIN CREATE ROLE dozor_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$"
for db in $SHOP $MES $CRM; do
    psql_q -d postgres -c "CREATE DATABASE $db"
done
psql_q -d postgres -v shop=$SHOP -v mes=$MES -v crm=$CRM -f "$here/schema.sql"

# 500 orders, 20 s apart over the last 3 hours (the last 5 a minute ago). The MES receives
# order i 2-18 s after it was placed, the CRM 5-54 s after the MES. Times come from one base so
# that the three databases agree without copying rows between them.
BASE=$(psql_q -d postgres -Atc "SELECT now() - interval '3 hours'")
psql_q -d $SHOP -c "
INSERT INTO orders (id, customer, total, created_at)
SELECT i, 'customer-' || (i % 97), (i % 300) + 0.99,
       CASE WHEN i > 495 THEN now() - interval '1 minute'
            ELSE '$BASE'::timestamptz + i * interval '20 seconds' END
FROM generate_series(1, 500) AS i;"
psql_q -d $MES -c "
INSERT INTO mes_orders (shop_order_id, received_at)
SELECT i::text, '$BASE'::timestamptz + i * interval '20 seconds' + (2 + i % 17) * interval '1 second'
FROM generate_series(1, 495) AS i WHERE i NOT IN (17, 230, 411);"
psql_q -d $CRM -c "
INSERT INTO deals (external_id, created_at)
SELECT i::text, '$BASE'::timestamptz + i * interval '20 seconds' + (2 + i % 17 + 5 + i % 50) * interval '1 second'
FROM generate_series(1, 495) AS i WHERE i NOT IN (17, 230, 411, 99, 302);"

echo "Seeded $SHOP, $MES, $CRM."
echo "Lost between shop and mes: 17 230 411"
echo "Lost between mes and crm:  99 302"
echo "In flight from shop:       496 497 498 499 500 (for the next 9 minutes)"
