-- Each row's certification is its partition's in the readiness log (current_certification,
-- which says why the log is read as a source). Loads of this domain's minutes re-judge it, so
-- they rebuild this mart, and no other domain's do.
-- depends_on: {{ source('normalized', 'futures_bars_1m') }}
-- Daily bars of each continuous series with their back-adjustment, anchored to the series'
-- newest contract: adj_difference sums the gaps of the rolls after the day, adj_ratio
-- multiplies their ratios. A roll takes effect at its session's open, so a roll day already
-- holds the new contract and is not adjusted by its own roll. An adjustment is null where it is
-- unknown, as a Spine read refuses it: when the day's contract is not the one its next roll
-- leaves (a roll the warehouse lacks), when a later roll does not lead to the contract the
-- following one leaves (or, the newest, to the series' newest contract), or when a later roll's
-- gap or ratio was not measured. The difference adjustment and the close it adjusts are on the
-- root's tick grid (its price_decimals), as Spine and the lake's view give them; the
-- ratio-adjusted close is left as computed.
with

daily as (
    select * from {{ ref('stg_analytics__futures_continuous_daily') }}
),

rolls as (
    select * from {{ ref('stg_normalized__futures_rolls') }}
),

newest as (
    select
        series,
        arg_max(local_symbol, trade_date) as contract
    from daily
    group by series
),

chained as (
    select
        rolls.series,
        rolls.trade_date,
        rolls.from_contract,
        rolls.gap,
        rolls.ratio,
        rolls.to_contract = coalesce(
            lead(rolls.from_contract) over (
                partition by rolls.series order by rolls.trade_date
            ),
            newest.contract
        ) as linked
    from rolls
    left join newest on rolls.series = newest.series
),

later_rolls as (
    select
        series,
        from_contract,
        trade_date as roll_date,
        case
            when bool_and(linked and gap is not null) over later then sum(gap) over later
        end as adj_difference,
        case
            when bool_and(linked and ratio is not null) over later
                then exp(sum(ln(ratio)) over later)
        end as adj_ratio,
        bool_and(linked) over later as chain_whole
    from chained
    window later as (partition by series order by trade_date desc rows unbounded preceding)
),

certification as (
    select
        trade_date,
        symbol,
        certification
    from ({{ current_certification(['analytics/futures_continuous_daily']) }}) as judged
),

roots as (
    select
        root,
        venue,
        price_decimals
    from {{ ref('ref_futures_roots') }}
),

adjusted as (
    select
        daily.*,
        case
            when later_rolls.series is null and daily.local_symbol = newest.contract then 0
            when daily.local_symbol = later_rolls.from_contract then later_rolls.adj_difference
        end as adj_difference,
        case
            when later_rolls.series is null and daily.local_symbol = newest.contract then 1
            when daily.local_symbol = later_rolls.from_contract then later_rolls.adj_ratio
        end as adj_ratio,
        -- Why an adjustment is null, in the words of the lake's adjusted view.
        case
            when later_rolls.series is null and daily.local_symbol = newest.contract then null
            when
                daily.local_symbol = later_rolls.from_contract
                and later_rolls.adj_difference is not null
                and later_rolls.adj_ratio is not null
                then null
            when
                later_rolls.series is null
                or daily.local_symbol != later_rolls.from_contract
                or not later_rolls.chain_whole
                then
                    'a roll between ' || daily.local_symbol
                    || ' and the series'' newest contract ' || newest.contract
                    || ' is not in the roll table: load the sessions between them, or read the '
                    || 'range with Spine, which adjusts to its last bar'
            else
                'a roll between ' || daily.local_symbol
                || ' and the series'' newest contract ' || newest.contract
                || ' has no measured gap or ratio: load the session before it'
        end as adjustment_note
    from daily
    inner join newest on daily.series = newest.series
    asof left join later_rolls
        on daily.series = later_rolls.series
        and daily.trade_date < later_rolls.roll_date
),

final as (
    select
        adjusted.bar_key,
        adjusted.trade_date,
        adjusted.series,
        adjusted.local_symbol,
        'FUT:' || adjusted.root as root_instrument_key,
        roots.venue || '|' || strftime(adjusted.trade_date, '%Y-%m-%d') as date_key,
        adjusted.open_price,
        adjusted.high_price,
        adjusted.low_price,
        adjusted.close_price,
        adjusted.volume,
        round(adjusted.adj_difference, roots.price_decimals) as adj_difference,
        adjusted.adj_ratio,
        round(
            adjusted.close_price + adjusted.adj_difference, roots.price_decimals
        ) as close_difference_adjusted,
        adjusted.close_price * adjusted.adj_ratio as close_ratio_adjusted,
        adjusted.adjustment_note,
        rolls.trade_date is not null as is_roll_day,
        adjusted.bar_count,
        adjusted.expected_bars,
        -- A row no judgment covers is not certified: it reads as preliminary.
        coalesce(certification.certification, 'preliminary') as certification,
        adjusted.capture_id
    from adjusted
    left join roots on adjusted.root = roots.root
    left join rolls
        on adjusted.series = rolls.series
        and adjusted.trade_date = rolls.trade_date
    left join certification
        on adjusted.trade_date = certification.trade_date
        and adjusted.series = certification.symbol
)

select * from final
