-- Each row's certification is its partition's in the readiness log (current_certification,
-- which says why the log is read as a source). Loads of this domain's minutes re-judge it, so
-- they rebuild this mart, and no other domain's do.
-- depends_on: {{ source('normalized', 'futures_bars_1m') }}
with

daily as (
    select * from {{ ref('stg_analytics__futures_bars_daily') }}
),

contract_days as (
    select * from {{ ref('int_futures__contract_days') }}
),

certification as (
    select
        trade_date,
        symbol,
        certification
    from ({{ current_certification(['analytics/futures_bars_daily']) }}) as judged
),

roots as (
    select
        root,
        venue
    from {{ ref('ref_futures_roots') }}
),

joined as (
    select
        daily.bar_key,
        daily.trade_date,
        daily.root,
        'FUT:' || daily.root as root_instrument_key,
        'FUT:' || contract_days.contract_code as contract_instrument_key,
        roots.venue || '|' || strftime(daily.trade_date, '%Y-%m-%d') as date_key,
        daily.open_price,
        daily.high_price,
        daily.low_price,
        daily.close_price,
        daily.volume,
        daily.vwap,
        daily.trade_count,
        daily.bar_count,
        daily.expected_bars,
        daily.capture_id,
        lag(contract_days.contract_code) over by_root as previous_contract_code,
        lag(daily.close_price) over by_root as previous_close_price,
        contract_days.contract_code,
        -- A row no judgment covers is not certified: it reads as preliminary.
        coalesce(certification.certification, 'preliminary') as certification
    from daily
    left join contract_days
        on daily.root = contract_days.root
        and daily.trade_date = contract_days.trade_date
    left join roots on daily.root = roots.root
    left join certification
        on daily.trade_date = certification.trade_date
        and daily.root = certification.symbol
    window by_root as (partition by daily.root order by daily.trade_date)
),

final as (
    select
        bar_key,
        trade_date,
        root_instrument_key,
        contract_instrument_key,
        date_key,
        open_price,
        high_price,
        low_price,
        close_price,
        volume,
        vwap,
        trade_count,
        bar_count,
        expected_bars,
        bar_count::double / nullif(expected_bars, 0) as completeness,
        -- A return across a roll compares two contracts: left NULL rather than misleading.
        case
            when previous_contract_code = contract_code
                then close_price / previous_close_price - 1
        end as close_to_close_return,
        certification,
        capture_id
    from joined
)

select * from final
