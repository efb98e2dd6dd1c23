//! Row ↔ record mapping and the statements shared by several operations, on PostgreSQL.

use openkms_domain::filters::SecretFilter;
use openkms_domain::key::{check_usable, KeyState};
use openkms_domain::stages::StageMap;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::Row;

use super::{clamp, pg};
use crate::records::*;
use crate::StoreError;

/// Column list of [`key`]; the last column is the primary version's creation.
macro_rules! key_columns {
    () => {
        "key_id, instance_id, key_spec, key_usage, key_state, creator, description, primary_version_id, created_at, delete_at, rotation_interval_secs, COALESCE((SELECT v.created_at FROM key_versions v WHERE v.key_id = keys.key_id AND v.version_id = keys.primary_version_id), created_at)"
    };
}
pub(crate) use key_columns;

/// Column list of [`secret_row`], in the SQLite backend's order.
macro_rules! secret_columns {
    () => {
        "id, name, secret_type, description, encryption_key_id, dkms_instance_id, extended_config, rotation_enabled, rotation_interval, next_rotation_at, last_rotation_at, policy, stages, created_at, updated_at, planned_delete_at, rotation_state, xmin::text::bigint"
    };
}

pub fn meta(r: &PgRow) -> sqlx::Result<Meta> {
    Ok(Meta {
        account_id: r.try_get(0)?,
        root_fingerprint: r.try_get(1)?,
        default_instance: r.try_get(2)?,
        service_key_id: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

pub fn key(r: &PgRow) -> sqlx::Result<KeyRecord> {
    Ok(KeyRecord {
        key_id: r.try_get(0)?,
        instance_id: r.try_get(1)?,
        key_spec: r.try_get(2)?,
        key_usage: r.try_get(3)?,
        key_state: r.try_get(4)?,
        creator: r.try_get(5)?,
        description: r.try_get(6)?,
        primary_version_id: r.try_get(7)?,
        created_at: r.try_get(8)?,
        delete_at: r.try_get(9)?,
        rotation_interval_secs: r.try_get(10)?,
        last_rotation_at: r.try_get(11)?,
    })
}

pub fn alias(r: &PgRow) -> sqlx::Result<AliasRecord> {
    Ok(AliasRecord {
        alias_name: r.try_get(0)?,
        key_id: r.try_get(1)?,
        created_at: r.try_get(2)?,
    })
}

pub fn key_version(r: &PgRow) -> sqlx::Result<KeyVersionRecord> {
    Ok(KeyVersionRecord {
        key_id: r.try_get(0)?,
        version_id: r.try_get(1)?,
        wrapped_material: r.try_get(2)?,
        created_at: r.try_get(3)?,
        root_id: r.try_get(4)?,
    })
}

pub fn version(r: &PgRow) -> sqlx::Result<VersionRecord> {
    Ok(VersionRecord {
        version_id: r.try_get(0)?,
        data_type: r.try_get(1)?,
        key_id: r.try_get(2)?,
        key_version_id: r.try_get(3)?,
        wrapped_key: r.try_get(4)?,
        ciphertext: r.try_get(5)?,
        created_at: r.try_get(6)?,
    })
}

pub fn db_instance(r: &PgRow) -> sqlx::Result<DbInstanceRecord> {
    Ok(DbInstanceRecord {
        instance_id: r.try_get(0)?,
        engine: r.try_get(1)?,
        address: r.try_get(2)?,
        admin_secret: r.try_get(3)?,
        created_at: r.try_get(4)?,
        tls_mode: r.try_get(5)?,
        tls_ca: r.try_get(6)?,
    })
}

pub fn root(r: &PgRow) -> sqlx::Result<RootRecord> {
    Ok(RootRecord {
        root_id: r.try_get(0)?,
        kind: r.try_get(1)?,
        locator: r.try_get(2)?,
        state: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

pub fn tag(r: &PgRow) -> sqlx::Result<TagRecord> {
    Ok(TagRecord {
        key: r.try_get(0)?,
        value: r.try_get(1)?,
    })
}

/// A secret row with its stage labels parsed.
pub fn secret(r: &PgRow) -> Result<SecretRecord, StoreError> {
    let get = |e| StoreError::Postgres {
        op: "read secret row",
        source: e,
    };
    let stages: String = r.try_get(12).map_err(get)?;
    let progress: String = r.try_get(16).map_err(get)?;
    Ok(SecretRecord {
        id: r.try_get(0).map_err(get)?,
        name: r.try_get(1).map_err(get)?,
        secret_type: r.try_get(2).map_err(get)?,
        description: r.try_get(3).map_err(get)?,
        encryption_key_id: r.try_get(4).map_err(get)?,
        dkms_instance_id: r.try_get(5).map_err(get)?,
        extended_config: r.try_get(6).map_err(get)?,
        rotation: RotationRecord {
            enabled: r.try_get(7).map_err(get)?,
            interval_secs: r.try_get(8).map_err(get)?,
            next_at: r.try_get(9).map_err(get)?,
            last_at: r.try_get(10).map_err(get)?,
            // Unreadable progress counts as none, as on SQLite: it only steers retries.
            progress: serde_json::from_str(&progress).unwrap_or_default(),
        },
        policy: r.try_get(11).map_err(get)?,
        stages: serde_json::from_str(&stages).map_err(|_| StoreError::Corrupt {
            what: "secret stage labels",
        })?,
        created_at: r.try_get(13).map_err(get)?,
        updated_at: r.try_get(14).map_err(get)?,
        planned_delete_at: r.try_get(15).map_err(get)?,
        revision: r.try_get(17).map_err(get)?,
    })
}

pub async fn key_by_id(
    c: &mut PgConnection,
    key_id: &str,
    lock: Lock,
) -> Result<Option<KeyRecord>, StoreError> {
    let sql = match lock {
        Lock::None => concat!("SELECT ", key_columns!(), " FROM keys WHERE key_id = $1"),
        Lock::Update => concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE key_id = $1 FOR UPDATE"
        ),
    };
    sqlx::query(sql)
        .bind(key_id)
        .try_map(|r: PgRow| key(&r))
        .fetch_optional(c)
        .await
        .map_err(pg("read key"))
}

/// Whether a row read inside a write is locked against concurrent writers.
#[derive(Clone, Copy)]
pub enum Lock {
    None,
    Update,
}

/// Whether the key `key_id` may seal a new secret version now. Run inside the write that
/// inserts the version; the key row is read FOR SHARE, so a DisableKey or ScheduleKeyDeletion
/// (which lock it FOR UPDATE) either committed first and is seen here, or waits for this write
/// and then sees the secret it created. The service-managed key (`service_key`) is always
/// usable: no action changes its state.
pub async fn sealing_key_check(
    c: &mut PgConnection,
    key_id: &str,
    service_key: Option<&str>,
) -> Result<Result<(), SealingKeyRefusal>, StoreError> {
    if service_key == Some(key_id) {
        return Ok(Ok(()));
    }
    let state: Option<String> =
        sqlx::query_scalar("SELECT key_state FROM keys WHERE key_id = $1 FOR SHARE")
            .bind(key_id)
            .fetch_optional(c)
            .await
            .map_err(pg("read sealing key state"))?;
    let Some(state) = state else {
        return Ok(Err(SealingKeyRefusal::Gone));
    };
    let state = KeyState::parse(&state).ok_or(StoreError::Corrupt { what: "key state" })?;
    Ok(check_usable(state).map_err(SealingKeyRefusal::State))
}

/// Locks the key a secret names as its EncryptionKeyId, when it is not the sealing key already
/// locked by [`sealing_key_check`], so a racing ScheduleKeyDeletion counts this secret.
pub async fn share_key(c: &mut PgConnection, key_id: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM keys WHERE key_id = $1 FOR SHARE")
        .bind(key_id)
        .fetch_optional(c)
        .await
        .map_err(pg("lock encryption key"))?;
    Ok(())
}

pub async fn secret_by_name(
    c: &mut PgConnection,
    name: &str,
    lock: Lock,
) -> Result<Option<SecretRecord>, StoreError> {
    let sql = match lock {
        Lock::None => concat!(
            "SELECT ",
            secret_columns!(),
            " FROM secrets WHERE name = $1"
        ),
        Lock::Update => concat!(
            "SELECT ",
            secret_columns!(),
            " FROM secrets WHERE name = $1 FOR UPDATE"
        ),
    };
    let row = sqlx::query(sql)
        .bind(name)
        .fetch_optional(c)
        .await
        .map_err(pg("read secret"))?;
    row.as_ref().map(secret).transpose()
}

/// The WHERE clause and parameters of a ListSecrets filter. Substring matches use `strpos`
/// so they are exact and case-sensitive, with nothing to escape (as `instr` on SQLite).
fn filter_sql(f: &SecretFilter) -> (String, Vec<String>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let mut any_of = |values: &[String], cond: &str| {
        if values.is_empty() {
            return;
        }
        let parts: Vec<String> = values
            .iter()
            .map(|v| {
                args.push(v.clone());
                cond.replace('?', &format!("${}", args.len()))
            })
            .collect();
        clauses.push(format!("({})", parts.join(" OR ")));
    };
    any_of(&f.name_contains, "strpos(s.name, ?) > 0");
    any_of(&f.description_contains, "strpos(s.description, ?) > 0");
    any_of(&f.instance_ids, "s.dkms_instance_id = ?");
    any_of(&f.secret_types, "s.secret_type = ?");
    any_of(
        &f.tag_keys,
        "EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id AND t.tag_key = ?)",
    );
    any_of(
        &f.tag_values,
        "EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.id AND t.tag_value = ?)",
    );
    if clauses.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", clauses.join(" AND ")), args)
    }
}

pub async fn list_secrets(
    c: &mut PgConnection,
    f: &SecretFilter,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<SecretRecord>), StoreError> {
    let (clause, args) = filter_sql(f);
    // Counted in the same snapshot as the page (the caller runs both in one read-only
    // transaction). No trigger-kept counter as on SQLite: one counter row would serialise
    // every CreateSecret of every node on its row lock.
    let count_sql = format!("SELECT COUNT(*) FROM secrets s{clause}");
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
    for a in &args {
        count = count.bind(a);
    }
    let total = count
        .fetch_one(&mut *c)
        .await
        .map_err(pg("count secrets"))?;
    let n = args.len();
    let sql = format!(
        concat!(
            "SELECT ",
            secret_columns!(),
            " FROM secrets s{} ORDER BY s.id LIMIT ${} OFFSET ${}"
        ),
        clause,
        n + 1,
        n + 2
    );
    let mut page = sqlx::query(&sql);
    for a in &args {
        page = page.bind(a);
    }
    let rows = page
        .bind(clamp(limit))
        .bind(clamp(offset))
        .fetch_all(&mut *c)
        .await
        .map_err(pg("list secrets"))?;
    let out = rows.iter().map(secret).collect::<Result<Vec<_>, _>>()?;
    Ok((u64::try_from(total).unwrap_or_default(), out))
}

pub async fn version_metas(
    c: &mut PgConnection,
    secret_id: i64,
) -> Result<Vec<VersionMeta>, StoreError> {
    sqlx::query(
        "SELECT version_id, created_at FROM secret_versions WHERE secret_id = $1 ORDER BY seq",
    )
    .bind(secret_id)
    .try_map(|r: PgRow| {
        Ok(VersionMeta {
            version_id: r.try_get(0)?,
            created_at: r.try_get(1)?,
        })
    })
    .fetch_all(c)
    .await
    .map_err(pg("read versions"))
}

fn stages_json(s: &StageMap) -> Result<String, StoreError> {
    serde_json::to_string(s).map_err(|_| StoreError::Corrupt {
        what: "secret stage labels",
    })
}

fn progress_json(p: &RotationProgress) -> Result<String, StoreError> {
    serde_json::to_string(p).map_err(|_| StoreError::Corrupt {
        what: "secret rotation state",
    })
}

/// When the scheduler should look at a secret; never while it waits for deletion.
fn rotation_due(s: &SecretRecord) -> Option<i64> {
    if s.planned_delete_at.is_some() {
        return None;
    }
    s.rotation.due_at()
}

/// Inserts a secret unless its name is taken; its id, or `None` when taken. A concurrent
/// insert of the same name makes this wait for it and then report the name taken.
pub async fn insert_secret(
    c: &mut PgConnection,
    s: &SecretRecord,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "INSERT INTO secrets (name, secret_type, description, encryption_key_id, dkms_instance_id, extended_config, rotation_enabled, rotation_interval, next_rotation_at, last_rotation_at, policy, stages, created_at, updated_at, planned_delete_at, rotation_state, rotation_due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(&s.name)
    .bind(&s.secret_type)
    .bind(&s.description)
    .bind(&s.encryption_key_id)
    .bind(&s.dkms_instance_id)
    .bind(&s.extended_config)
    .bind(s.rotation.enabled)
    .bind(s.rotation.interval_secs)
    .bind(s.rotation.next_at)
    .bind(s.rotation.last_at)
    .bind(&s.policy)
    .bind(stages_json(&s.stages)?)
    .bind(s.created_at)
    .bind(s.updated_at)
    .bind(s.planned_delete_at)
    .bind(progress_json(&s.rotation.progress)?)
    .bind(rotation_due(s))
    .fetch_optional(c)
    .await
    .map_err(pg("write secret"))
}

pub async fn update_secret_row(c: &mut PgConnection, s: &SecretRecord) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE secrets SET description = $2, extended_config = $3, rotation_enabled = $4, rotation_interval = $5, next_rotation_at = $6, last_rotation_at = $7, policy = $8, stages = $9, updated_at = $10, planned_delete_at = $11, rotation_state = $12, rotation_due_at = $13 WHERE id = $1",
    )
    .bind(s.id)
    .bind(&s.description)
    .bind(&s.extended_config)
    .bind(s.rotation.enabled)
    .bind(s.rotation.interval_secs)
    .bind(s.rotation.next_at)
    .bind(s.rotation.last_at)
    .bind(&s.policy)
    .bind(stages_json(&s.stages)?)
    .bind(s.updated_at)
    .bind(s.planned_delete_at)
    .bind(progress_json(&s.rotation.progress)?)
    .bind(rotation_due(s))
    .execute(c)
    .await
    .map_err(pg("update secret"))?;
    Ok(())
}

/// Inserts a version after the secret's others; the caller holds the secret's row lock (or
/// created the secret), so no other writer computes the same `seq`.
pub async fn insert_version(
    c: &mut PgConnection,
    secret_id: i64,
    v: &VersionRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO secret_versions (secret_id, version_id, seq, data_type, key_id, key_version_id, wrapped_key, ciphertext, created_at) VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM secret_versions WHERE secret_id = $1), $3, $4, $5, $6, $7, $8)",
    )
    .bind(secret_id)
    .bind(&v.version_id)
    .bind(&v.data_type)
    .bind(&v.key_id)
    .bind(&v.key_version_id)
    .bind(&v.wrapped_key)
    .bind(&v.ciphertext)
    .bind(v.created_at)
    .execute(c)
    .await
    .map_err(pg("write secret version"))?;
    Ok(())
}

pub async fn insert_key(c: &mut PgConnection, k: &KeyRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO keys (key_id, instance_id, key_spec, key_usage, key_state, creator, description, primary_version_id, created_at, delete_at, rotation_interval_secs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&k.key_id)
    .bind(&k.instance_id)
    .bind(&k.key_spec)
    .bind(&k.key_usage)
    .bind(&k.key_state)
    .bind(&k.creator)
    .bind(&k.description)
    .bind(&k.primary_version_id)
    .bind(k.created_at)
    .bind(k.delete_at)
    .bind(k.rotation_interval_secs)
    .execute(c)
    .await
    .map_err(pg("write key"))?;
    Ok(())
}

pub async fn insert_key_version(
    c: &mut PgConnection,
    v: &KeyVersionRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO key_versions (key_id, version_id, wrapped_material, created_at, root_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&v.key_id)
    .bind(&v.version_id)
    .bind(&v.wrapped_material)
    .bind(v.created_at)
    .bind(&v.root_id)
    .execute(c)
    .await
    .map_err(pg("write key version"))?;
    Ok(())
}

pub async fn insert_root(c: &mut PgConnection, root: &RootRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO roots (root_id, kind, locator, state, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&root.root_id)
    .bind(&root.kind)
    .bind(&root.locator)
    .bind(&root.state)
    .bind(root.created_at)
    .execute(c)
    .await
    .map_err(pg("write root"))?;
    Ok(())
}

pub async fn instance(
    c: &mut PgConnection,
    id: &str,
) -> Result<Option<InstanceRecord>, StoreError> {
    sqlx::query(
        "SELECT i.instance_id, i.created_at, (SELECT COUNT(*) FROM keys k WHERE k.instance_id = i.instance_id AND k.creator <> 'Service'), (SELECT COUNT(*) FROM secrets s WHERE s.dkms_instance_id = i.instance_id OR (s.dkms_instance_id IS NULL AND i.instance_id = (SELECT default_instance FROM meta WHERE id = 1))) FROM instances i WHERE i.instance_id = $1",
    )
    .bind(id)
    .try_map(|r: PgRow| {
        Ok(InstanceRecord {
            instance_id: r.try_get(0)?,
            created_at: r.try_get(1)?,
            key_count: u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or_default(),
            secret_count: u64::try_from(r.try_get::<i64, _>(3)?).unwrap_or_default(),
        })
    })
    .fetch_optional(c)
    .await
    .map_err(pg("read instance"))
}

/// Writes a key's mutable columns (state, deletion date, description, rotation, primary
/// version) from the record.
pub async fn write_key(c: &mut PgConnection, k: &KeyRecord) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE keys SET key_state = $2, delete_at = $3, description = $4, rotation_interval_secs = $5, primary_version_id = $6 WHERE key_id = $1",
    )
    .bind(&k.key_id)
    .bind(&k.key_state)
    .bind(k.delete_at)
    .bind(&k.description)
    .bind(k.rotation_interval_secs)
    .bind(&k.primary_version_id)
    .execute(c)
    .await
    .map_err(pg("update key"))?;
    Ok(())
}
