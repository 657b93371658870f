with

source as (
    select * from {{ source('analytics', 'futures_continuous_daily') }}
),

renamed as (
    select
        series || '|' || strftime(trade_date, '%Y-%m-%d') as bar_key,
        symbol as root,
        series,
        contract as local_symbol,
        trade_date,
        {{ futures_bar_columns() }},
        bar_count,
        expected_bars,
        capture_id
    from source
)

select * from renamed
