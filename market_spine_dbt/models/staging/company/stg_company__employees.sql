-- GENERATED from the dataset's defs.yaml by `python -m market_spine.warehouse.company_staging`; edit the YAML, not this file.
select
    "tenant",
    "employee_id",
    cast(null as varchar) as "full_name",
    sha256(cast("email" as varchar)) as "email",
    "department",
    cast(null as double) as "salary",
    "capture_id",
    "captured_at",
    "valid_from",
    "valid_to",
    "is_current"
from {{ source('normalized', 'company_employees') }}
