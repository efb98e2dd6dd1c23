//! Row ↔ record mapping and the statements shared by several operations.

use openkms_domain::filters::SecretFilter;
use openkms_domain::key::{check_usable, KeyState};
use openkms_domain::stages::StageMap;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::db;
use crate::records::*;
use crate::StoreError;

/// Column list of [`key`].
macro_rules! key_columns {
    () => {
        "key_id, instance_id, key_spec, key_usage, key_state, creator, description, primary_version_id, created_at, delete_at, rotation_interval_secs, COALESCE((SELECT v.created_at FROM key_versions v WHERE v.key_id = keys.key_id AND v.version_id = keys.primary_version_id), created_at)"
    };
}
pub(crate) use key_columns;

/// Column list of [`secret_row`], as a macro so queries stay `&'static str` (no formatting
/// on the hot read path).
macro_rules! secret_columns {
    () => {
        "id, name, secret_type, description, encryption_key_id, dkms_instance_id, extended_config, rotation_enabled, rotation_interval, next_rotation_at, last_rotation_at, policy, stages, created_at, updated_at, planned_delete_at, rotation_state"
    };
}

pub fn meta(r: &Row<'_>) -> rusqlite::Result<Meta> {
    Ok(Meta {
        account_id: r.get(0)?,
        root_fingerprint: r.get(1)?,
        default_instance: r.get(2)?,
        service_key_id: r.get(3)?,
        created_at: r.get(4)?,
    })
}

pub fn key(r: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        key_id: r.get(0)?,
        instance_id: r.get(1)?,
        key_spec: r.get(2)?,
        key_usage: r.get(3)?,
        key_state: r.get(4)?,
        creator: r.get(5)?,
        description: r.get(6)?,
        primary_version_id: r.get(7)?,
        created_at: r.get(8)?,
        delete_at: r.get(9)?,
        rotation_interval_secs: r.get(10)?,
        last_rotation_at: r.get(11)?,
    })
}

pub fn key_by_id(c: &Connection, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
    c.prepare_cached(concat!(
        "SELECT ",
        key_columns!(),
        " FROM keys WHERE key_id = ?1"
    ))
    .and_then(|mut s| s.query_row([key_id], key).optional())
    .map_err(db("read key"))
}

/// Whether the key `key_id` may seal a new secret version now. Run inside the write that
/// inserts the version, so a DisableKey or ScheduleKeyDeletion that commits first is seen.
pub fn sealing_key_check(
    c: &Connection,
    key_id: &str,
) -> Result<Result<(), SealingKeyRefusal>, StoreError> {
    let state: Option<String> = c
        .prepare_cached("SELECT key_state FROM keys WHERE key_id = ?1")
        .and_then(|mut s| s.query_row([key_id], |r| r.get(0)).optional())
        .map_err(db("read sealing key state"))?;
    let Some(state) = state else {
        return Ok(Err(SealingKeyRefusal::Gone));
    };
    let state = KeyState::parse(&state).ok_or(StoreError::Corrupt { what: "key state" })?;
    Ok(check_usable(state).map_err(SealingKeyRefusal::State))
}

pub fn db_instance(r: &Row<'_>) -> rusqlite::Result<DbInstanceRecord> {
    Ok(DbInstanceRecord {
        instance_id: r.get(0)?,
        engine: r.get(1)?,
        address: r.get(2)?,
        admin_secret: r.get(3)?,
        created_at: r.get(4)?,
        tls_mode: r.get(5)?,
        tls_ca: r.get(6)?,
    })
}

pub fn alias(r: &Row<'_>) -> rusqlite::Result<AliasRecord> {
    Ok(AliasRecord {
        alias_name: r.get(0)?,
        key_id: r.get(1)?,
        created_at: r.get(2)?,
    })
}

pub fn key_version(r: &Row<'_>) -> rusqlite::Result<KeyVersionRecord> {
    Ok(KeyVersionRecord {
        key_id: r.get(0)?,
        version_id: r.get(1)?,
        wrapped_material: r.get(2)?,
        created_at: r.get(3)?,
        root_id: r.get(4)?,
    })
}

pub fn version(r: &Row<'_>) -> rusqlite::Result<VersionRecord> {
    Ok(VersionRecord {
        version_id: r.get(0)?,
        data_type: r.get(1)?,
        key_id: r.get(2)?,
        key_version_id: r.get(3)?,
        wrapped_key: r.get(4)?,
        ciphertext: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// A secret row; `stages` is JSON text and parsed by the caller of this function.
fn secret_row(r: &Row<'_>) -> rusqlite::Result<(SecretRecord, String)> {
    Ok((
        SecretRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            secret_type: r.get(2)?,
            description: r.get(3)?,
            encryption_key_id: r.get(4)?,
            dkms_instance_id: r.get(5)?,
            extended_config: r.get(6)?,
            rotation: RotationRecord {
                enabled: r.get(7)?,
                interval_secs: r.get(8)?,
                next_at: r.get(9)?,
                last_at: r.get(10)?,
                progress: progress_from(&r.get::<_, String>(16)?),
            },
            policy: r.get(11)?,
            stages: StageMap::default(),
            created_at: r.get(13)?,
            updated_at: r.get(14)?,
            planned_delete_at: r.get(15)?,
            revision: 0,
        },
        r.get(12)?,
    ))
}

pub fn secret_by_name(c: &Connection, name: &str) -> Result<Option<SecretRecord>, StoreError> {
    let found = c
        .prepare_cached(concat!(
            "SELECT ",
            secret_columns!(),
            " FROM secrets WHERE name = ?1"
        ))
        .and_then(|mut s| s.query_row([name], secret_row).optional())
        .map_err(db("read secret"))?;
    found
        .map(|(mut rec, stages)| {
            rec.stages = serde_json::from_str(&stages).map_err(|_| StoreError::Corrupt {
                what: "secret stage labels",
            })?;
            Ok(rec)
        })
        .transpose()
}

/// The WHERE clause and parameters of a ListSecrets filter. Substring matches use `instr` so
/// they are exact and case-sensitive, with nothing to escape.
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
                cond.replace('?', &format!("?{}", args.len()))
            })
            .collect();
        clauses.push(format!("({})", parts.join(" OR ")));
    };
    any_of(&f.name_contains, "instr(s.name, ?) > 0");
    any_of(&f.description_contains, "instr(s.description, ?) > 0");
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

pub fn list_secrets(
    c: &Connection,
    f: &SecretFilter,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<SecretRecord>), StoreError> {
    let (clause, args) = filter_sql(f);
    // Unfiltered: the trigger-maintained counter, so the first page costs the same at any
    // number of secrets. Filtered: counting needs the matching rows.
    let count_sql = if clause.is_empty() {
        "SELECT value FROM counters WHERE name = 'secrets'".to_owned()
    } else {
        format!("SELECT COUNT(*) FROM secrets s{clause}")
    };
    let total: i64 = c
        .prepare_cached(&count_sql)
        .and_then(|mut s| s.query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0)))
        .map_err(db("count secrets"))?;
    let sql = format!(
        concat!(
            "SELECT ",
            secret_columns!(),
            " FROM secrets s{} ORDER BY s.id LIMIT {} OFFSET {}"
        ),
        clause,
        limit.min(i64::MAX as u64),
        offset.min(i64::MAX as u64)
    );
    let mut stmt = c.prepare_cached(&sql).map_err(db("list secrets"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), secret_row)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(db("list secrets"))?;
    let mut out = Vec::with_capacity(rows.len());
    for (mut rec, stages) in rows {
        rec.stages = serde_json::from_str(&stages).map_err(|_| StoreError::Corrupt {
            what: "secret stage labels",
        })?;
        out.push(rec);
    }
    Ok((u64::try_from(total).unwrap_or_default(), out))
}

pub fn tags(c: &Connection, secret_id: i64) -> Result<Vec<TagRecord>, StoreError> {
    let mut s = c
        .prepare_cached(
            "SELECT tag_key, tag_value FROM secret_tags WHERE secret_id = ?1 ORDER BY tag_key",
        )
        .map_err(db("read tags"))?;
    s.query_map([secret_id], |r| {
        Ok(TagRecord {
            key: r.get(0)?,
            value: r.get(1)?,
        })
    })
    .and_then(|it| it.collect())
    .map_err(db("read tags"))
}

pub fn version_metas(c: &Connection, secret_id: i64) -> Result<Vec<VersionMeta>, StoreError> {
    let mut s = c
        .prepare_cached(
            "SELECT version_id, created_at FROM secret_versions WHERE secret_id = ?1 ORDER BY seq",
        )
        .map_err(db("read versions"))?;
    s.query_map([secret_id], |r| {
        Ok(VersionMeta {
            version_id: r.get(0)?,
            created_at: r.get(1)?,
        })
    })
    .and_then(|it| it.collect())
    .map_err(db("read versions"))
}

fn stages_json(s: &StageMap) -> Result<String, StoreError> {
    serde_json::to_string(s).map_err(|_| StoreError::Corrupt {
        what: "secret stage labels",
    })
}

/// A row's rotation progress; an unreadable value counts as none (it only steers retries).
fn progress_from(text: &str) -> RotationProgress {
    serde_json::from_str(text).unwrap_or_default()
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

pub fn insert_secret(c: &Connection, s: &SecretRecord) -> Result<i64, StoreError> {
    let stages = stages_json(&s.stages)?;
    let progress = progress_json(&s.rotation.progress)?;
    c.prepare_cached(
        "INSERT INTO secrets (name, secret_type, description, encryption_key_id, dkms_instance_id, extended_config, rotation_enabled, rotation_interval, next_rotation_at, last_rotation_at, policy, stages, created_at, updated_at, planned_delete_at, rotation_state, rotation_due_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )
    .and_then(|mut st| {
        st.execute(params![
            s.name,
            s.secret_type,
            s.description,
            s.encryption_key_id,
            s.dkms_instance_id,
            s.extended_config,
            s.rotation.enabled,
            s.rotation.interval_secs,
            s.rotation.next_at,
            s.rotation.last_at,
            s.policy,
            stages,
            s.created_at,
            s.updated_at,
            s.planned_delete_at,
            progress,
            rotation_due(s),
        ])
    })
    .map_err(db("write secret"))?;
    Ok(c.last_insert_rowid())
}

pub fn update_secret_row(c: &Connection, s: &SecretRecord) -> Result<(), StoreError> {
    let stages = stages_json(&s.stages)?;
    let progress = progress_json(&s.rotation.progress)?;
    c.prepare_cached(
        "UPDATE secrets SET description = ?2, extended_config = ?3, rotation_enabled = ?4, rotation_interval = ?5, next_rotation_at = ?6, last_rotation_at = ?7, policy = ?8, stages = ?9, updated_at = ?10, planned_delete_at = ?11, rotation_state = ?12, rotation_due_at = ?13 WHERE id = ?1",
    )
    .and_then(|mut st| {
        st.execute(params![
            s.id,
            s.description,
            s.extended_config,
            s.rotation.enabled,
            s.rotation.interval_secs,
            s.rotation.next_at,
            s.rotation.last_at,
            s.policy,
            stages,
            s.updated_at,
            s.planned_delete_at,
            progress,
            rotation_due(s),
        ])
    })
    .map_err(db("update secret"))?;
    Ok(())
}

pub fn insert_version(c: &Connection, secret_id: i64, v: &VersionRecord) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO secret_versions (secret_id, version_id, seq, data_type, key_id, key_version_id, wrapped_key, ciphertext, created_at) VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM secret_versions WHERE secret_id = ?1), ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut st| {
        st.execute(params![
            secret_id,
            v.version_id,
            v.data_type,
            v.key_id,
            v.key_version_id,
            v.wrapped_key,
            v.ciphertext,
            v.created_at,
        ])
    })
    .map_err(db("write secret version"))?;
    Ok(())
}

pub fn insert_key(c: &Connection, k: &KeyRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO keys (key_id, instance_id, key_spec, key_usage, key_state, creator, description, primary_version_id, created_at, delete_at, rotation_interval_secs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![k.key_id, k.instance_id, k.key_spec, k.key_usage, k.key_state, k.creator, k.description, k.primary_version_id, k.created_at, k.delete_at, k.rotation_interval_secs],
    )
    .map_err(db("write key"))?;
    Ok(())
}

pub fn insert_key_version(c: &Connection, v: &KeyVersionRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO key_versions (key_id, version_id, wrapped_material, created_at, root_id) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![v.key_id, v.version_id, v.wrapped_material, v.created_at, v.root_id],
    )
    .map_err(db("write key version"))?;
    Ok(())
}

pub fn instance(c: &Connection, id: &str) -> Result<Option<InstanceRecord>, StoreError> {
    c.prepare_cached(
        "SELECT i.instance_id, i.created_at, (SELECT COUNT(*) FROM keys k WHERE k.instance_id = i.instance_id AND k.creator <> 'Service'), (SELECT COUNT(*) FROM secrets s WHERE s.dkms_instance_id = i.instance_id OR (s.dkms_instance_id IS NULL AND i.instance_id = (SELECT default_instance FROM meta WHERE id = 1))) FROM instances i WHERE i.instance_id = ?1",
    )
    .and_then(|mut s| {
        s.query_row([id], |r| {
            Ok(InstanceRecord {
                instance_id: r.get(0)?,
                created_at: r.get(1)?,
                key_count: u64::try_from(r.get::<_, i64>(2)?).unwrap_or_default(),
                secret_count: u64::try_from(r.get::<_, i64>(3)?).unwrap_or_default(),
            })
        })
        .optional()
    })
    .map_err(db("read instance"))
}

/// Writes a key's mutable columns (state, deletion date, description, rotation, primary
/// version) from the record.
pub fn write_key(c: &Connection, k: &KeyRecord) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE keys SET key_state = ?2, delete_at = ?3, description = ?4, rotation_interval_secs = ?5, primary_version_id = ?6 WHERE key_id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            k.key_id,
            k.key_state,
            k.delete_at,
            k.description,
            k.rotation_interval_secs,
            k.primary_version_id
        ])
    })
    .map_err(db("update key"))?;
    Ok(())
}

pub fn root(r: &Row<'_>) -> rusqlite::Result<RootRecord> {
    Ok(RootRecord {
        root_id: r.get(0)?,
        kind: r.get(1)?,
        locator: r.get(2)?,
        state: r.get(3)?,
        created_at: r.get(4)?,
    })
}

pub fn insert_root(c: &Connection, root: &RootRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO roots (root_id, kind, locator, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            root.root_id,
            root.kind,
            root.locator,
            root.state,
            root.created_at
        ],
    )
    .map_err(db("write root"))?;
    Ok(())
}
