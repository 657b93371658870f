with

source as (
    select * from {{ source('normalized', 'futures_rolls') }}
),

renamed as (
    select
        series || '|' || strftime(trade_date, '%Y-%m-%d') as roll_key,
        symbol as root,
        series,
        rule as roll_rule,
        rank as series_rank,
        trade_date,
        roll_ts,
        from_contract,
        to_contract,
        gap_ts,
        from_price,
        to_price,
        gap,
        ratio,
        capture_id
    from source
)

select * from renamed
