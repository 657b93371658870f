with

source as (
    select * from {{ source('analytics', 'options_greeks_eod') }}
),

renamed as (
    select
        {{ option_contract_columns() }},
        forward as forward_price,
        discount as discount_factor,
        {{ nan_to_null('iv') }} as implied_vol,
        {{ nan_to_null('iv_bid') }} as implied_vol_bid,
        {{ nan_to_null('iv_ask') }} as implied_vol_ask,
        iv_converged as is_iv_converged,
        iv_reason as iv_reason_code,
        {{ nan_to_null('delta') }} as delta,
        {{ nan_to_null('gamma') }} as gamma,
        {{ nan_to_null('vega') }} as vega,
        {{ nan_to_null('theta') }} as theta,
        {{ nan_to_null('rho') }} as rho,
        capture_id
    from source
)

select * from renamed
