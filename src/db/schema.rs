// One schema for both backends: the migrations use types that map to the same diesel SQL types.

diesel::table! {
    workspaces (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        workspace_id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        start_time -> BigInt,
        end_time -> Nullable<BigInt>,
        extra -> Nullable<Text>,
        reference_dataset_id -> Nullable<Text>,
        default_dataset_id -> Nullable<Text>,
        trace_tier -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    runs (workspace_id, id) {
        workspace_id -> Text,
        id -> Text,
        session_id -> Nullable<Text>,
        trace_id -> Nullable<Text>,
        parent_run_id -> Nullable<Text>,
        dotted_order -> Nullable<Text>,
        name -> Nullable<Text>,
        run_type -> Nullable<Text>,
        start_time -> Nullable<BigInt>,
        end_time -> Nullable<BigInt>,
        inputs -> Nullable<Text>,
        outputs -> Nullable<Text>,
        error -> Nullable<Text>,
        extra -> Nullable<Text>,
        serialized -> Nullable<Text>,
        events -> Nullable<Text>,
        tags -> Nullable<Text>,
        reference_example_id -> Nullable<Text>,
        prompt_tokens -> Nullable<BigInt>,
        completion_tokens -> Nullable<BigInt>,
        total_tokens -> Nullable<BigInt>,
        prompt_cost -> Nullable<Double>,
        completion_cost -> Nullable<Double>,
        total_cost -> Nullable<Double>,
        prompt_token_details -> Nullable<Text>,
        completion_token_details -> Nullable<Text>,
        first_token_time -> Nullable<BigInt>,
        inserted_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    run_attachments (workspace_id, run_id, name) {
        workspace_id -> Text,
        run_id -> Text,
        name -> Text,
        content_type -> Text,
        data -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    feedback (id) {
        id -> Text,
        workspace_id -> Text,
        run_id -> Nullable<Text>,
        trace_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        key -> Text,
        score -> Nullable<Double>,
        value -> Nullable<Text>,
        comment -> Nullable<Text>,
        correction -> Nullable<Text>,
        feedback_source -> Nullable<Text>,
        feedback_config -> Nullable<Text>,
        feedback_group_id -> Nullable<Text>,
        extra -> Nullable<Text>,
        created_at -> BigInt,
        modified_at -> BigInt,
        comparative_experiment_id -> Nullable<Text>,
        source_type -> Text,
    }
}

diesel::table! {
    feedback_tokens (id) {
        id -> Text,
        workspace_id -> Text,
        run_id -> Text,
        feedback_key -> Text,
        feedback_config -> Nullable<Text>,
        expires_at -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    feedback_configs (workspace_id, feedback_key) {
        workspace_id -> Text,
        feedback_key -> Text,
        feedback_config -> Text,
        is_lower_score_better -> Nullable<Bool>,
        modified_at -> BigInt,
        deleted -> Bool,
    }
}

diesel::table! {
    datasets (id) {
        id -> Text,
        workspace_id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        data_type -> Text,
        inputs_schema -> Nullable<Text>,
        outputs_schema -> Nullable<Text>,
        transformations -> Nullable<Text>,
        metadata -> Nullable<Text>,
        created_at -> BigInt,
        modified_at -> BigInt,
    }
}

diesel::table! {
    dataset_versions (dataset_id, as_of) {
        dataset_id -> Text,
        as_of -> BigInt,
    }
}

diesel::table! {
    dataset_tags (dataset_id, tag) {
        dataset_id -> Text,
        tag -> Text,
        as_of -> BigInt,
    }
}

diesel::table! {
    example_revisions (example_id, valid_from) {
        example_id -> Text,
        valid_from -> BigInt,
        valid_to -> Nullable<BigInt>,
        workspace_id -> Text,
        dataset_id -> Text,
        inputs -> Text,
        outputs -> Nullable<Text>,
        metadata -> Nullable<Text>,
        source_run_id -> Nullable<Text>,
        splits -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    example_attachments (example_id, valid_from, name) {
        example_id -> Text,
        valid_from -> BigInt,
        name -> Text,
        content_type -> Text,
        data -> Binary,
    }
}

diesel::table! {
    comparative_experiments (id) {
        id -> Text,
        workspace_id -> Text,
        name -> Nullable<Text>,
        description -> Nullable<Text>,
        reference_dataset_id -> Text,
        experiment_ids -> Text,
        extra -> Nullable<Text>,
        created_at -> BigInt,
        modified_at -> BigInt,
    }
}

diesel::table! {
    dataset_shares (dataset_id) {
        dataset_id -> Text,
        share_token -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    run_metadata (workspace_id, key, value, start_time, run_id) {
        workspace_id -> Text,
        run_id -> Text,
        key -> Text,
        value -> Text,
        start_time -> BigInt,
    }
}

diesel::table! {
    annotation_queues (id) {
        id -> Text,
        workspace_id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        rubric_instructions -> Nullable<Text>,
        rubric_items -> Nullable<Text>,
        default_dataset -> Nullable<Text>,
        num_reviewers_per_item -> BigInt,
        enable_reservations -> Bool,
        reservation_minutes -> Nullable<BigInt>,
        metadata -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    annotation_queue_runs (id) {
        id -> Text,
        queue_id -> Text,
        workspace_id -> Text,
        run_id -> Text,
        added_at -> BigInt,
        last_reviewed_time -> Nullable<BigInt>,
        completed -> Bool,
    }
}

diesel::table! {
    run_rules (id) {
        id -> Text,
        workspace_id -> Text,
        display_name -> Text,
        session_id -> Nullable<Text>,
        dataset_id -> Nullable<Text>,
        is_enabled -> Bool,
        sampling_rate -> Double,
        filter -> Nullable<Text>,
        trace_filter -> Nullable<Text>,
        tree_filter -> Nullable<Text>,
        backfill_from -> Nullable<BigInt>,
        add_to_dataset_id -> Nullable<Text>,
        add_to_dataset_prefer_correction -> Bool,
        add_to_annotation_queue_id -> Nullable<Text>,
        webhooks -> Nullable<Text>,
        settings -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        backfill_status -> Nullable<Text>,
        backfill_cursor_time -> Nullable<BigInt>,
        backfill_cursor_id -> Nullable<Text>,
        backfill_evaluated -> BigInt,
        backfill_total -> Nullable<BigInt>,
        backfill_completed_at -> Nullable<BigInt>,
        disabled_reason -> Nullable<Text>,
    }
}

diesel::table! {
    rule_pending_traces (trace_id) {
        trace_id -> Text,
        workspace_id -> Text,
        version -> BigInt,
        queued_at -> BigInt,
    }
}

diesel::table! {
    run_rule_applications (rule_id, run_id) {
        rule_id -> Text,
        run_id -> Text,
        session_id -> Nullable<Text>,
        run_name -> Nullable<Text>,
        run_type -> Nullable<Text>,
        run_start_time -> Nullable<BigInt>,
        run_end_time -> Nullable<BigInt>,
        thread_id -> Nullable<Text>,
        applied_at -> BigInt,
        backfill -> Bool,
        outcomes -> Text,
    }
}

diesel::table! {
    rule_webhook_deliveries (id) {
        id -> Text,
        rule_id -> Text,
        run_id -> Text,
        workspace_id -> Text,
        url -> Text,
        headers -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        response_status -> Nullable<BigInt>,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(sessions -> workspaces (workspace_id));
diesel::allow_tables_to_appear_in_same_query!(
    rule_pending_traces,
    run_rule_applications,
    rule_webhook_deliveries,
    workspaces,
    sessions,
    runs,
    run_attachments,
    feedback,
    feedback_tokens,
    feedback_configs,
    datasets,
    dataset_versions,
    dataset_tags,
    example_revisions,
    example_attachments,
    comparative_experiments,
    dataset_shares,
    run_metadata,
    annotation_queues,
    annotation_queue_runs,
    run_rules,
);
