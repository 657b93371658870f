with

source as (
    select * from {{ source('normalized', 'futures_bars_1m') }}
),

renamed as (
    select
        symbol || '|' || strftime(ts, '%Y-%m-%dT%H:%M:%SZ') as bar_key,
        symbol as root,
        contract as local_symbol,
        trade_date,
        ts as bar_ts,
        {{ futures_bar_columns() }},
        capture_id
    from source
)

select * from renamed
