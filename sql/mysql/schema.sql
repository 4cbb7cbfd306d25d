-- MIA: MySQL/MariaDB schema generated from the migrations in sql/versions.
-- Migration head: 0003. Regenerate with `make schema`; review every change.
-- A test proves that applying this file gives exactly what the migrations give.
SET FOREIGN_KEY_CHECKS=0;

CREATE TABLE `alembic_version` (
  `version_num` varchar(32) NOT NULL,
  PRIMARY KEY (`version_num`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `audit_events` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `occurred_at` datetime(6) NOT NULL,
  `actor_type` varchar(16) NOT NULL,
  `actor_id` varchar(64) DEFAULT NULL,
  `action` varchar(64) NOT NULL,
  `encounter_id` varchar(32) DEFAULT NULL,
  `media_id` varchar(32) DEFAULT NULL,
  `remote_addr` varchar(45) DEFAULT NULL,
  `detail` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_audit_action` (`action`,`occurred_at`),
  KEY `ix_audit_actor` (`actor_type`,`actor_id`,`occurred_at`),
  KEY `ix_audit_encounter` (`encounter_id`,`occurred_at`),
  KEY `ix_audit_occurred` (`occurred_at`),
  KEY `ix_audit_encounter_action` (`encounter_id`,`action`,`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `consents` (
  `id` varchar(32) NOT NULL,
  `encounter_id` varchar(32) NOT NULL,
  `text_version` varchar(32) NOT NULL,
  `share_with_care_team` tinyint(1) NOT NULL,
  `keep_in_record` tinyint(1) NOT NULL,
  `use_for_teaching` tinyint(1) NOT NULL,
  `answered_at` datetime(6) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_consents_encounter_answered` (`encounter_id`,`answered_at`),
  CONSTRAINT `fk_consents_encounter` FOREIGN KEY (`encounter_id`) REFERENCES `encounters` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `encounters` (
  `id` varchar(32) NOT NULL,
  `clinician_id` varchar(32) NOT NULL,
  `team` varchar(100) DEFAULT NULL,
  `status` varchar(16) NOT NULL,
  `patient_name` blob NOT NULL,
  `date_of_birth` blob NOT NULL,
  `nhs_number` blob DEFAULT NULL,
  `nhs_number_index` varchar(64) DEFAULT NULL,
  `phone` blob DEFAULT NULL,
  `email` blob DEFAULT NULL,
  `request_note` blob DEFAULT NULL,
  `invite_token_hash` varchar(64) DEFAULT NULL,
  `invite_expires_at` datetime(6) DEFAULT NULL,
  `locked_at` datetime(6) DEFAULT NULL,
  `created_at` datetime(6) NOT NULL,
  `invited_at` datetime(6) DEFAULT NULL,
  `opened_at` datetime(6) DEFAULT NULL,
  `verified_at` datetime(6) DEFAULT NULL,
  `consented_at` datetime(6) DEFAULT NULL,
  `submitted_at` datetime(6) DEFAULT NULL,
  `reviewed_at` datetime(6) DEFAULT NULL,
  `reviewed_by` varchar(32) DEFAULT NULL,
  `review_note` blob DEFAULT NULL,
  `deleted_at` datetime(6) DEFAULT NULL,
  `deleted_by` varchar(32) DEFAULT NULL,
  `delete_reason` blob DEFAULT NULL,
  `updated_at` datetime(6) NOT NULL,
  `reminders_enabled` tinyint(1) NOT NULL DEFAULT 1,
  `link_shown_at` datetime(6) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `invite_token_hash` (`invite_token_hash`),
  KEY `fk_encounters_deleter` (`deleted_by`),
  KEY `fk_encounters_reviewer` (`reviewed_by`),
  KEY `ix_encounters_clinician_created` (`clinician_id`,`created_at`),
  KEY `ix_encounters_nhs_number_index` (`nhs_number_index`),
  KEY `ix_encounters_status` (`status`),
  KEY `ix_encounters_team_created` (`team`,`created_at`),
  CONSTRAINT `fk_encounters_clinician` FOREIGN KEY (`clinician_id`) REFERENCES `users` (`id`),
  CONSTRAINT `fk_encounters_deleter` FOREIGN KEY (`deleted_by`) REFERENCES `users` (`id`),
  CONSTRAINT `fk_encounters_reviewer` FOREIGN KEY (`reviewed_by`) REFERENCES `users` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `jobs` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `kind` varchar(32) NOT NULL,
  `media_id` varchar(32) DEFAULT NULL,
  `dedupe_key` varchar(100) DEFAULT NULL,
  `status` varchar(16) NOT NULL,
  `attempts` int(11) NOT NULL DEFAULT 0,
  `max_attempts` int(11) NOT NULL,
  `run_after` datetime(6) NOT NULL,
  `lease_until` datetime(6) DEFAULT NULL,
  `worker_id` varchar(64) DEFAULT NULL,
  `last_error` varchar(1000) DEFAULT NULL,
  `created_at` datetime(6) NOT NULL,
  `updated_at` datetime(6) NOT NULL,
  `finished_at` datetime(6) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `dedupe_key` (`dedupe_key`),
  KEY `ix_jobs_status_run_after` (`status`,`run_after`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `media` (
  `id` varchar(32) NOT NULL,
  `encounter_id` varchar(32) NOT NULL,
  `upload_id` varchar(32) DEFAULT NULL,
  `kind` varchar(16) NOT NULL,
  `content_type` varchar(64) NOT NULL,
  `status` varchar(16) NOT NULL,
  `failure_reason` varchar(500) DEFAULT NULL,
  `original_key` varchar(512) NOT NULL,
  `original_size` bigint(20) NOT NULL,
  `original_sha256` varchar(64) DEFAULT NULL,
  `original_filename` blob DEFAULT NULL,
  `note` blob DEFAULT NULL,
  `width` int(11) DEFAULT NULL,
  `height` int(11) DEFAULT NULL,
  `duration_seconds` float DEFAULT NULL,
  `video_codec` varchar(32) DEFAULT NULL,
  `audio_codec` varchar(32) DEFAULT NULL,
  `display_key` varchar(512) DEFAULT NULL,
  `display_content_type` varchar(64) DEFAULT NULL,
  `display_size` bigint(20) DEFAULT NULL,
  `thumbnail_key` varchar(512) DEFAULT NULL,
  `thumbnail_size` bigint(20) DEFAULT NULL,
  `created_at` datetime(6) NOT NULL,
  `processed_at` datetime(6) DEFAULT NULL,
  `deleted_at` datetime(6) DEFAULT NULL,
  `deleted_by` varchar(32) DEFAULT NULL,
  `delete_reason` blob DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `original_key` (`original_key`),
  UNIQUE KEY `upload_id` (`upload_id`),
  KEY `fk_media_deleter` (`deleted_by`),
  KEY `ix_media_encounter` (`encounter_id`),
  KEY `ix_media_status_created` (`status`,`created_at`),
  CONSTRAINT `fk_media_deleter` FOREIGN KEY (`deleted_by`) REFERENCES `users` (`id`),
  CONSTRAINT `fk_media_encounter` FOREIGN KEY (`encounter_id`) REFERENCES `encounters` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `notifications` (
  `id` varchar(32) NOT NULL,
  `kind` varchar(32) NOT NULL,
  `channel` varchar(16) NOT NULL,
  `recipient` blob DEFAULT NULL,
  `body` blob NOT NULL,
  `encounter_id` varchar(32) DEFAULT NULL,
  `user_id` varchar(32) DEFAULT NULL,
  `status` varchar(16) NOT NULL,
  `attempts` int(11) NOT NULL DEFAULT 0,
  `last_error` varchar(500) DEFAULT NULL,
  `created_at` datetime(6) NOT NULL,
  `sent_at` datetime(6) DEFAULT NULL,
  `read_at` datetime(6) DEFAULT NULL,
  `provider` varchar(16) DEFAULT NULL,
  `provider_id` varchar(100) DEFAULT NULL,
  `lease_owner` varchar(64) DEFAULT NULL,
  `lease_until` datetime(6) DEFAULT NULL,
  `next_attempt_at` datetime(6) DEFAULT NULL,
  `failure_reason` varchar(300) DEFAULT NULL,
  `delivered_at` datetime(6) DEFAULT NULL,
  `failed_at` datetime(6) DEFAULT NULL,
  `dedupe_key` varchar(100) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ux_notifications_dedupe_key` (`dedupe_key`),
  KEY `ix_notifications_encounter` (`encounter_id`,`created_at`),
  KEY `ix_notifications_status_created` (`status`,`created_at`),
  KEY `ix_notifications_user` (`user_id`,`created_at`),
  KEY `ix_notifications_due` (`status`,`next_attempt_at`),
  KEY `ix_notifications_provider_id` (`provider`,`provider_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `patient_sessions` (
  `id` varchar(64) NOT NULL,
  `encounter_id` varchar(32) NOT NULL,
  `csrf_token` varchar(64) NOT NULL,
  `created_at` datetime(6) NOT NULL,
  `last_seen_at` datetime(6) NOT NULL,
  `expires_at` datetime(6) NOT NULL,
  `revoked_at` datetime(6) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_patient_sessions_encounter` (`encounter_id`),
  KEY `ix_patient_sessions_expires` (`expires_at`),
  CONSTRAINT `fk_patient_sessions_encounter` FOREIGN KEY (`encounter_id`) REFERENCES `encounters` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `teams` (
  `name` varchar(100) NOT NULL,
  `organisation_name` varchar(100) DEFAULT NULL,
  `mailbox` varchar(254) DEFAULT NULL,
  `updated_at` datetime(6) NOT NULL,
  `updated_by` varchar(32) DEFAULT NULL,
  PRIMARY KEY (`name`),
  KEY `fk_teams_updated_by` (`updated_by`),
  CONSTRAINT `fk_teams_updated_by` FOREIGN KEY (`updated_by`) REFERENCES `users` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `uploads` (
  `id` varchar(32) NOT NULL,
  `encounter_id` varchar(32) NOT NULL,
  `session_id` varchar(64) NOT NULL,
  `status` varchar(16) NOT NULL,
  `storage_key` varchar(512) NOT NULL,
  `storage_ref` varchar(1024) DEFAULT NULL,
  `upload_length` bigint(20) NOT NULL,
  `upload_offset` bigint(20) NOT NULL DEFAULT 0,
  `kind` varchar(16) DEFAULT NULL,
  `content_type` varchar(64) DEFAULT NULL,
  `original_filename` blob DEFAULT NULL,
  `note` blob DEFAULT NULL,
  `lock_token` varchar(32) DEFAULT NULL,
  `locked_until` datetime(6) DEFAULT NULL,
  `media_id` varchar(32) DEFAULT NULL,
  `created_at` datetime(6) NOT NULL,
  `updated_at` datetime(6) NOT NULL,
  `expires_at` datetime(6) NOT NULL,
  `completed_at` datetime(6) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_uploads_encounter` (`encounter_id`),
  KEY `ix_uploads_status_expires` (`status`,`expires_at`),
  CONSTRAINT `fk_uploads_encounter` FOREIGN KEY (`encounter_id`) REFERENCES `encounters` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `users` (
  `id` varchar(32) NOT NULL,
  `username` varchar(64) NOT NULL,
  `display_name` varchar(200) NOT NULL,
  `email` varchar(254) DEFAULT NULL,
  `role` varchar(16) NOT NULL,
  `team` varchar(100) DEFAULT NULL,
  `status` varchar(16) NOT NULL,
  `password_hash` varchar(200) DEFAULT NULL,
  `totp_secret` blob DEFAULT NULL,
  `totp_last_step` bigint(20) DEFAULT NULL,
  `enrollment_token_hash` varchar(64) DEFAULT NULL,
  `enrollment_expires_at` datetime(6) DEFAULT NULL,
  `failed_attempts` int(11) NOT NULL DEFAULT 0,
  `locked_until` datetime(6) DEFAULT NULL,
  `sessions_valid_after` datetime(6) DEFAULT NULL,
  `last_login_at` datetime(6) DEFAULT NULL,
  `created_at` datetime(6) NOT NULL,
  `updated_at` datetime(6) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `username` (`username`),
  UNIQUE KEY `enrollment_token_hash` (`enrollment_token_hash`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO `alembic_version` (`version_num`) VALUES ('0003');
SET FOREIGN_KEY_CHECKS=1;
