with

source as (
    select * from {{ source('normalized', 'options_chain_eod') }}
),

renamed as (
    select
        {{ option_contract_columns() }},
        capture_id
    from source
)

select * from renamed
