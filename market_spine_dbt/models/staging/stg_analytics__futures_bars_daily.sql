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
        {{ futures_bar_columns() }},
        bar_count,
        expected_bars,
        capture_id
    from source
)

select * from renamed
