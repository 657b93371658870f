with

source as (
    select * from {{ source('analytics', 'vol_surface_daily') }}
),

renamed as (
    select
        root || '|' || strftime(trade_date, '%Y-%m-%d') || '|' || strftime(expiration, '%Y-%m-%d')
            as surface_key,
        trade_date,
        root,
        expiration as expiration_date,
        t as years_to_expiry,
        forward as forward_price,
        {{ nan_to_null('atm_iv') }} as atm_vol,
        {{ nan_to_null('rr25') }} as risk_reversal_25d,
        {{ nan_to_null('bf25') }} as butterfly_25d,
        strikes as strike_count
    from source
)

select * from renamed
