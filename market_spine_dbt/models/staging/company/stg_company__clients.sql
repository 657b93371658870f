-- GENERATED from the dataset's defs.yaml by `python -m market_spine.warehouse.company_staging`; edit the YAML, not this file.
select
    "tenant",
    "client_id",
    "name",
    "email",
    "phone",
    "segment",
    "updated_at",
    "capture_id",
    "captured_at",
    "valid_from",
    "valid_to",
    "is_current"
from {{ source('normalized', 'company_clients') }}
