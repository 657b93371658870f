with

sessions as (
    select * from {{ ref('ref_trading_sessions') }}
),

final as (
    select
        venue || '|' || strftime(date_day, '%Y-%m-%d') as date_key,
        venue,
        date_day,
        year(date_day) as year_number,
        quarter(date_day) as quarter_number,
        month(date_day) as month_number,
        isodow(date_day) as iso_day_of_week,
        cast(date_trunc('week', date_day) as date) as week_start_date,
        isodow(date_day) >= 6 as is_weekend,
        is_trading_day,
        is_holiday,
        is_early_close,
        session_open_utc,
        session_close_utc,
        datediff('minute', session_open_utc, session_close_utc) as session_minutes,
        nullif(note, '') as session_note
    from sessions
)

select * from final
