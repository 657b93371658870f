with

source as (
    select * from {{ source('analytics', 'futures_bars_daily') }}
),

renamed as (
    select
        symbol || '|' || strftime(trade_date, '%Y-%m-%d') as bar_key,
        symbol as root,
        contract as local_symbol,
        trade_date,
        open as open_price,
        high as high_price,
        low as low_price,
        close as close_price,
        volume,
        vwap,
        trades as trade_count,
        bar_count,
        expected_bars,
        capture_id
    from source
)

select * from renamed
