-- GENERATED from the dataset's defs.yaml by `python -m market_spine.warehouse.company_staging`; edit the YAML, not this file.
select
    "tenant",
    "order_id",
    "client_id",
    "ordered_at",
    "amount",
    "status",
    "business_date",
    "capture_id",
    "captured_at"
from {{ source('normalized', 'company_orders') }}
