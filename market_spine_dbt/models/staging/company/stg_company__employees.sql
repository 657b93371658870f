-- GENERATED from the dataset's defs.yaml by `python -m market_spine.warehouse.company_staging`; edit the YAML, not this file.
select
    "tenant",
    "employee_id",
    "full_name",
    "email",
    "department",
    "salary",
    "capture_id",
    "captured_at",
    "valid_from",
    "valid_to",
    "is_current"
from {{ source('normalized', 'company_employees') }}
