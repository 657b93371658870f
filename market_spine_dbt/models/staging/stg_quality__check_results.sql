with

source as (
    select * from {{ source('quality', 'check_results') }}
),

renamed as (
    select
        evaluation_id,
        storage_id,
        evaluated_at,
        run_id,
        asset_key,
        check_name,
        asset_key || ':' || check_name as check_key,
        nullif(partition_key, '') as partition_key,
        passed as is_passed,
        severity,
        -- The owner a rule routes its findings to (company datasets' checks name one).
        json_extract_string(metadata_json, '$.owner') as owner,
        description,
        metadata_json
    from source
    -- One row per evaluation, even where two collections raced before they replaced a window.
    qualify row_number() over (partition by evaluation_id order by storage_id) = 1
)

select * from renamed
