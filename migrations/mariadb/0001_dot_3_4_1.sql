-- oauthctl migration 0001 (MariaDB >= 10.7).
--
-- Creates the six oauth2_provider_* tables as Django 5.2's `migrate` leaves them after
-- django-oauth-toolkit 3.4.1's migrations 0001-0022 on MariaDB >= 10.7: same column order, types,
-- NOT NULLs, AUTO_INCREMENT primary keys, and the same names for every unique key, index and foreign
-- key. Like Django, no ENGINE/CHARSET is given, so the tables take the database defaults (InnoDB,
-- utf8mb4); `json` becomes a LONGTEXT utf8mb4_bin with a json_valid() CHECK, exactly what Django's
-- JSONField gets.
-- UUIDFields (idtoken.jti, refreshtoken.token_family) use MariaDB's native `uuid` type, as
-- Django >= 5.0 does on MariaDB >= 10.7 (DatabaseFeatures.has_native_uuid_field).
--
-- The one intended difference: no auth_user table exists, so the `user_id` columns keep their type
-- (integer) and nullability but carry no `..._fk_auth_user_id` foreign key. Under Django, InnoDB
-- creates the index of that FK implicitly, under the FK's name; here that index is declared
-- explicitly with the same name. FKs between DOT tables are immediate and without ON DELETE, and no
-- column has a DEFAULT, as with Django (deletes are cascaded/nulled by the application, in
-- dependency order).
--
-- Checked with tests/interop/compare_schema.py against a Django-migrated MariaDB 10.11 database
-- (SHOW CREATE TABLE identical apart from the absent user FKs).

CREATE TABLE `oauth2_provider_application` (
    `id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY,
    `client_id` varchar(255) NOT NULL UNIQUE,
    `redirect_uris` longtext NOT NULL,
    `client_type` varchar(32) NOT NULL,
    `authorization_grant_type` varchar(44) NOT NULL,
    `client_secret` varchar(255) NOT NULL,
    `name` varchar(255) NOT NULL,
    `user_id` integer NULL,
    `skip_authorization` bool NOT NULL,
    `created` datetime(6) NOT NULL,
    `updated` datetime(6) NOT NULL,
    `algorithm` varchar(5) NOT NULL,
    `post_logout_redirect_uris` longtext NOT NULL,
    `hash_client_secret` bool NOT NULL,
    `allowed_origins` longtext NOT NULL,
    `registration_source` varchar(32) NOT NULL,
    `cimd_expires_at` datetime(6) NULL,
    INDEX `oauth2_provider_application_user_id_79829054_fk_auth_user_id` (`user_id`),
    INDEX `oauth2_provider_application_client_secret_53133678` (`client_secret`)
);

CREATE TABLE `oauth2_provider_accesstoken` (
    `id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY,
    `token` longtext NOT NULL,
    `expires` datetime(6) NOT NULL,
    `scope` longtext NOT NULL,
    `application_id` bigint NULL,
    `user_id` integer NULL,
    `created` datetime(6) NOT NULL,
    `updated` datetime(6) NOT NULL,
    `source_refresh_token_id` bigint NULL UNIQUE,
    `id_token_id` bigint NULL UNIQUE,
    `token_checksum` varchar(64) NOT NULL,
    `resource` json NOT NULL,
    CONSTRAINT `oauth2_provider_accesstoken_token_checksum_85319a26_uniq` UNIQUE (`token_checksum`),
    INDEX `oauth2_provider_acce_application_id_b22886e1_fk_oauth2_pr` (`application_id`),
    INDEX `oauth2_provider_accesstoken_user_id_6e4c9a65_fk_auth_user_id` (`user_id`)
);

CREATE TABLE `oauth2_provider_refreshtoken` (
    `id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY,
    `token` longtext NOT NULL,
    `access_token_id` bigint NULL UNIQUE,
    `application_id` bigint NOT NULL,
    `user_id` integer NOT NULL,
    `created` datetime(6) NOT NULL,
    `updated` datetime(6) NOT NULL,
    `revoked` datetime(6) NULL,
    `token_family` uuid NULL,
    `token_checksum` varchar(64) NOT NULL,
    `resource` json NOT NULL,
    CONSTRAINT `oauth2_provider_refresht_token_checksum_revoked_46c81d1d_uniq` UNIQUE (`token_checksum`, `revoked`),
    INDEX `oauth2_provider_refr_application_id_2d1c311b_fk_oauth2_pr` (`application_id`),
    INDEX `oauth2_provider_refreshtoken_user_id_da837fce_fk_auth_user_id` (`user_id`),
    INDEX `oauth2_prov_token_f_996e8a_idx` (`token_family`)
);

CREATE TABLE `oauth2_provider_idtoken` (
    `id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY,
    `jti` uuid NOT NULL UNIQUE,
    `expires` datetime(6) NOT NULL,
    `scope` longtext NOT NULL,
    `created` datetime(6) NOT NULL,
    `updated` datetime(6) NOT NULL,
    `application_id` bigint NULL,
    `user_id` integer NULL,
    INDEX `oauth2_provider_idto_application_id_08c5ff4f_fk_oauth2_pr` (`application_id`),
    INDEX `oauth2_provider_idtoken_user_id_dd512b59_fk_auth_user_id` (`user_id`)
);

CREATE TABLE `oauth2_provider_grant` (
    `id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY,
    `code` varchar(255) NOT NULL UNIQUE,
    `expires` datetime(6) NOT NULL,
    `redirect_uri` longtext NOT NULL,
    `scope` longtext NOT NULL,
    `application_id` bigint NOT NULL,
    `user_id` integer NOT NULL,
    `created` datetime(6) NOT NULL,
    `updated` datetime(6) NOT NULL,
    `code_challenge` varchar(128) NOT NULL,
    `code_challenge_method` varchar(10) NOT NULL,
    `nonce` varchar(255) NOT NULL,
    `claims` longtext NOT NULL,
    `resource` json NOT NULL,
    INDEX `oauth2_provider_gran_application_id_81923564_fk_oauth2_pr` (`application_id`),
    INDEX `oauth2_provider_grant_user_id_e8f62af8_fk_auth_user_id` (`user_id`)
);

CREATE TABLE `oauth2_provider_devicegrant` (
    `id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY,
    `device_code` varchar(100) NOT NULL,
    `user_code` varchar(100) NOT NULL,
    `scope` longtext NOT NULL,
    `interval` integer NOT NULL,
    `expires` datetime(6) NOT NULL,
    `status` varchar(64) NOT NULL,
    `client_id` varchar(100) NOT NULL,
    `last_checked` datetime(6) NOT NULL,
    `user_id` integer NULL,
    CONSTRAINT `oauth2_provider_devicegrant_unique_device_code` UNIQUE (`device_code`),
    INDEX `oauth2_provider_devicegrant_user_id_1cec5156_fk_auth_user_id` (`user_id`),
    INDEX `oauth2_provider_devicegrant_client_id_229dd06d` (`client_id`)
);

-- Foreign keys between DOT tables (none to a user table). Under Django, InnoDB creates the index of each
-- FK column under the constraint's name (unless a unique key already covers the column); those indexes
-- are declared above with the same names and in the same order, and InnoDB reuses them here.
ALTER TABLE `oauth2_provider_accesstoken` ADD CONSTRAINT `oauth2_provider_acce_application_id_b22886e1_fk_oauth2_pr` FOREIGN KEY (`application_id`) REFERENCES `oauth2_provider_application` (`id`);
ALTER TABLE `oauth2_provider_accesstoken` ADD CONSTRAINT `oauth2_provider_acce_id_token_id_85db651b_fk_oauth2_pr` FOREIGN KEY (`id_token_id`) REFERENCES `oauth2_provider_idtoken` (`id`);
ALTER TABLE `oauth2_provider_accesstoken` ADD CONSTRAINT `oauth2_provider_acce_source_refresh_token_e66fbc72_fk_oauth2_pr` FOREIGN KEY (`source_refresh_token_id`) REFERENCES `oauth2_provider_refreshtoken` (`id`);
ALTER TABLE `oauth2_provider_grant` ADD CONSTRAINT `oauth2_provider_gran_application_id_81923564_fk_oauth2_pr` FOREIGN KEY (`application_id`) REFERENCES `oauth2_provider_application` (`id`);
ALTER TABLE `oauth2_provider_idtoken` ADD CONSTRAINT `oauth2_provider_idto_application_id_08c5ff4f_fk_oauth2_pr` FOREIGN KEY (`application_id`) REFERENCES `oauth2_provider_application` (`id`);
ALTER TABLE `oauth2_provider_refreshtoken` ADD CONSTRAINT `oauth2_provider_refr_access_token_id_775e84e8_fk_oauth2_pr` FOREIGN KEY (`access_token_id`) REFERENCES `oauth2_provider_accesstoken` (`id`);
ALTER TABLE `oauth2_provider_refreshtoken` ADD CONSTRAINT `oauth2_provider_refr_application_id_2d1c311b_fk_oauth2_pr` FOREIGN KEY (`application_id`) REFERENCES `oauth2_provider_application` (`id`);
