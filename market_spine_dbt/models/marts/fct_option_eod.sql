-- Each row's certification is its partition's in the readiness log (current_certification,
-- which says why the log is read as a source). Loads of this domain's chains re-judge it, so
-- they rebuild this mart, and no other domain's do.
-- depends_on: {{ source('normalized', 'options_chain_eod') }}
with

greeks as (
    select * from {{ ref('stg_analytics__options_greeks_eod') }}
),

option_roots as (
    select
        root,
        venue
    from {{ ref('ref_option_roots') }}
),

certification as (
    select
        trade_date,
        symbol,
        certification
    from ({{ current_certification(['analytics/options_greeks_eod']) }}) as judged
),

final as (
    select
        greeks.option_day_key,
        greeks.trade_date,
        greeks.osi,
        'OPT:' || greeks.root as root_instrument_key,
        option_roots.venue || '|' || strftime(greeks.trade_date, '%Y-%m-%d') as date_key,
        greeks.expiration_date,
        greeks.strike,
        greeks.option_right,
        greeks.bid,
        greeks.ask,
        greeks.mid,
        -- A quote missing a side has no spread: ask 0 against a bid is no offer, not a cross.
        -- A crossed quote (bid above a real offer) has none either: it is a bad print, counted
        -- by the options quotes check, not a negative cost of trading.
        case
            when {{ quote_side_present('greeks.bid', 'greeks.bid_size') }}
                and {{ quote_side_present('greeks.ask', 'greeks.ask_size') }}
                and greeks.ask >= greeks.bid
                then greeks.ask - greeks.bid
        end as bid_ask_spread,
        {{ quote_side_present('greeks.bid', 'greeks.bid_size') }} as has_bid,
        {{ quote_side_present('greeks.ask', 'greeks.ask_size') }} as has_ask,
        greeks.bid_size,
        greeks.ask_size,
        greeks.volume,
        greeks.open_interest,
        greeks.underlying_price,
        greeks.days_to_expiry,
        greeks.years_to_expiry,
        greeks.forward_price,
        greeks.discount_factor,
        ln(greeks.strike / greeks.forward_price) as log_moneyness,
        greeks.implied_vol,
        greeks.implied_vol_bid,
        greeks.implied_vol_ask,
        greeks.is_iv_converged,
        greeks.iv_reason_code,
        greeks.delta,
        greeks.gamma,
        greeks.vega,
        greeks.theta,
        greeks.rho,
        -- A row no judgment covers is not certified: it reads as preliminary.
        coalesce(certification.certification, 'preliminary') as certification,
        greeks.capture_id
    from greeks
    left join option_roots on greeks.root = option_roots.root
    left join certification
        on greeks.trade_date = certification.trade_date
        and greeks.root = certification.symbol
)

select * from final
