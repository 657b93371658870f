with

source as (
    select * from {{ source('normalized', 'options_chain_eod') }}
),

renamed as (
    select
        osi || '|' || strftime(trade_date, '%Y-%m-%d') as option_day_key,
        trade_date,
        osi,
        root,
        expiration as expiration_date,
        strike,
        "right" as option_right,
        bid,
        ask,
        mid,
        bid_size,
        ask_size,
        volume,
        open_interest,
        underlying_price,
        days_to_expiry,
        t as years_to_expiry,
        capture_id
    from source
)

select * from renamed
