//! Secrets, their versions and stage labels, on PostgreSQL.

use super::*;
use crate::dialect::Dialect;
use crate::secrets::{filter_sql, sealing_verdict, secret_columns, version_columns};

#[async_trait]
impl crate::SecretStore for PgStore {
    async fn secret(&self, name: &str) -> Result<Option<Arc<SecretRecord>>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read secret"))?;
        Ok(secret_by_name(&mut c, name, Lock::None)
            .await?
            .map(Arc::new))
    }

    async fn version(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<Option<Arc<VersionRecord>>, StoreError> {
        let secret_id = secret.id;
        if let Some(v) = self.versions.get(secret, version_id) {
            return Ok(Some(v));
        }
        let v = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM secret_versions WHERE secret_id = $1 AND version_id = $2"
        ))
        .bind(secret_id)
        .bind(version_id)
        .try_map(|r: PgRow| VersionRecord::from_row(&r))
        .fetch_optional(&self.pool)
        .await
        .map_err(pg("read secret version"))?
        .map(Arc::new);
        if let Some(v) = &v {
            self.versions.put(secret, v.clone());
        }
        Ok(v)
    }

    async fn versions(&self, secret_id: i64) -> Result<Vec<VersionMeta>, StoreError> {
        let mut c = self.pool.acquire().await.map_err(pg("read versions"))?;
        version_metas(&mut c, secret_id).await
    }

    async fn list_secrets(
        &self,
        filter: &SecretFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<SecretRecord>), StoreError> {
        read_tx!(self, "list secrets", |tx| async {
            list_secrets(&mut *tx, filter, offset, limit).await
        })
    }

    async fn create_secret(&self, new: NewSecret) -> Result<CreateOutcome, StoreError> {
        let service_key = self.service_key.get().map(String::as_str);
        in_tx!(self, "create secret", |c| create_secret(
            c,
            &new,
            service_key
        ))
    }

    async fn update_secret(&self, name: &str, plan: PlanFn) -> Result<UpdateOutcome, StoreError> {
        // Declared before the answer, so dropped after it: a cancelled call unqueues its write.
        let _prune = self.writes.pruning(name);
        let mut answer = self.writes.enqueue(name, plan);
        // Whichever comes first: the answer (another turn took this write along), or a turn of
        // our own. A caller whose write is done must not queue for a turn just to find
        // nothing left: the callers behind it would wait for one empty turn each.
        let turn = tokio::select! {
            biased;
            done = &mut answer => return done.map_err(|_| StoreError::Unavailable)?,
            turn = self.writes.turn(name) => turn,
        };
        {
            let _turn = turn;
            let batch = self.writes.take(name);
            if !batch.is_empty() {
                let job = SecretWrites {
                    pool: self.pool.clone(),
                    name: name.to_owned(),
                    service_key: self.service_key.get().cloned(),
                };
                // A task of its own: the batch holds other callers' writes, which must be
                // applied and answered even if this caller goes away meanwhile. (A failed task
                // dropped its replies: those callers get 503 below.)
                let _ = tokio::spawn(job.apply(batch)).await;
            }
        }
        answer.await.map_err(|_| StoreError::Unavailable)?
    }

    async fn purge_expired(&self, now: i64) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("DELETE FROM secrets WHERE planned_delete_at IS NOT NULL AND planned_delete_at <= $1 RETURNING name")
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(pg("purge expired"))
    }
}

async fn create_secret(
    c: &mut PgConnection,
    new: &NewSecret,
    service_key: Option<&str>,
) -> Result<CreateOutcome, StoreError> {
    if let Some(existing) = secret_by_name(c, &new.secret.name, Lock::None).await? {
        return Ok(CreateOutcome::NameTaken {
            pending_deletion: existing.planned_delete_at.is_some(),
        });
    }
    if let Err(r) = sealing_key_check(c, &new.first_version.key_id, service_key).await? {
        return Ok(CreateOutcome::SealingKeyRefused(r));
    }
    if let Some(k) = &new.secret.encryption_key_id {
        if *k != new.first_version.key_id {
            share_key(c, k).await?;
        }
    }
    let Some(id) = insert_secret(c, &new.secret).await? else {
        // Created by a write that committed after the check above.
        let existing = secret_by_name(c, &new.secret.name, Lock::None).await?;
        return Ok(CreateOutcome::NameTaken {
            pending_deletion: existing.is_some_and(|s| s.planned_delete_at.is_some()),
        });
    };
    for t in &new.tags {
        sqlx::query("INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&t.key)
            .bind(&t.value)
            .execute(&mut *c)
            .await
            .map_err(pg("write tag"))?;
    }
    insert_version(c, id, &new.first_version).await?;
    Ok(CreateOutcome::Created)
}

/// One turn's writes of one secret (see [`write_queue`]).
struct SecretWrites {
    pool: PgPool,
    name: String,
    service_key: Option<String>,
}

impl SecretWrites {
    /// Applies the plans in one transaction and answers each.
    async fn apply(self, batch: Vec<Queued>) {
        let service_key = self.service_key.as_deref();
        let result = in_tx!(self, "update secret", |c| apply_plans(
            c,
            &self.name,
            &batch,
            service_key
        ));
        match result {
            Ok(outcomes) => {
                for (q, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = q.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                let each = fan_out(e);
                for q in batch {
                    let _ = q.reply.send(Err(each()));
                }
            }
        }
    }
}

/// Applies one turn's plans to one secret (see [`write_queue`]) with one read of the secret
/// and one write of each thing that changed: the plans run one after another on the state in
/// memory, each seeing what the previous ones did, and only the end state is written (a
/// version inserted and dropped again within the turn never reaches the table). Writing the
/// hot row once per turn, not once per plan, matters in PostgreSQL: every UPDATE of a row
/// leaves a version behind that later reads of it walk until vacuum.
async fn apply_plans(
    c: &mut PgConnection,
    name: &str,
    batch: &[Queued],
    service_key: Option<&str>,
) -> Result<Vec<UpdateOutcome>, StoreError> {
    // The row lock makes concurrent writers of one secret, on any node, take turns: each turn
    // sees the stage labels and versions the previous one committed.
    let Some(secret) = secret_by_name(c, name, Lock::Update).await? else {
        return Ok(batch.iter().map(|_| UpdateOutcome::NotFound).collect());
    };
    let stored = version_metas(c, secret.id).await?;
    let mut state = SecretState {
        secret,
        versions: stored.clone(),
    };
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut inserted: Vec<VersionRecord> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut sealing: Vec<(String, Result<(), SealingKeyRefusal>)> = Vec::new();
    let (mut changed, mut purged) = (false, false);
    for q in batch {
        if purged {
            outcomes.push(UpdateOutcome::NotFound);
            continue;
        }
        let mut update = match (q.plan)(&state) {
            Ok(u) => u,
            Err(r) => {
                outcomes.push(UpdateOutcome::Rejected(r));
                continue;
            }
        };
        if update.purge {
            purged = true;
            outcomes.push(UpdateOutcome::Applied(None));
            continue;
        }
        if let Some(v) = update.insert_version.take() {
            // Checked here, not before the write: a key disabled or scheduled for deletion by
            // a write that committed first refuses the version. Once checked, the key row is
            // held FOR SHARE until commit, so one check per key serves the whole turn.
            let verdict = match sealing.iter().find(|(k, _)| *k == v.key_id) {
                Some((_, verdict)) => verdict.clone(),
                None => {
                    let verdict = sealing_key_check(c, &v.key_id, service_key).await?;
                    sealing.push((v.key_id.clone(), verdict.clone()));
                    verdict
                }
            };
            if let Err(r) = verdict {
                outcomes.push(UpdateOutcome::SealingKeyRefused(r));
                continue;
            }
            state.versions.push(VersionMeta {
                version_id: v.version_id.clone(),
                created_at: v.created_at,
            });
            inserted.push(v);
        }
        for gone in &update.delete_versions {
            state.versions.retain(|m| m.version_id != *gone);
            if let Some(i) = inserted.iter().position(|v| v.version_id == *gone) {
                inserted.remove(i);
            } else if stored.iter().any(|m| m.version_id == *gone) && !dropped.contains(gone) {
                dropped.push(gone.clone());
            }
        }
        update.apply_to(&mut state.secret);
        changed = true;
        outcomes.push(UpdateOutcome::Applied(Some(Box::new(state.secret.clone()))));
    }
    let id = state.secret.id;
    if purged {
        sqlx::query("DELETE FROM secrets WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await
            .map_err(pg("purge secret"))?;
        return Ok(outcomes);
    }
    if !changed {
        return Ok(outcomes);
    }
    // Drops first: a later plan of the turn may reuse a dropped version's id.
    if !dropped.is_empty() {
        sqlx::query("DELETE FROM secret_versions WHERE secret_id = $1 AND version_id = ANY($2)")
            .bind(id)
            .bind(&dropped)
            .execute(&mut *c)
            .await
            .map_err(pg("drop version"))?;
    }
    for v in &inserted {
        insert_version(c, id, v).await?;
    }
    update_secret_row(c, &state.secret).await?;
    Ok(outcomes)
}

async fn secret_by_name(
    c: &mut PgConnection,
    name: &str,
    lock: Lock,
) -> Result<Option<SecretRecord>, StoreError> {
    let sql = match lock {
        Lock::None => concat!(
            "SELECT ",
            secret_columns!(),
            ", xmin::text::bigint AS revision FROM secrets WHERE name = $1"
        ),
        Lock::Update => concat!(
            "SELECT ",
            secret_columns!(),
            ", xmin::text::bigint AS revision FROM secrets WHERE name = $1 FOR UPDATE"
        ),
    };
    sqlx::query(sql)
        .bind(name)
        .try_map(|r: PgRow| SecretRecord::from_row(&r))
        .fetch_optional(c)
        .await
        .map_err(pg("read secret"))
}

async fn list_secrets(
    c: &mut PgConnection,
    f: &SecretFilter,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<SecretRecord>), StoreError> {
    let (clause, args) = filter_sql(f, Dialect::Postgres);
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
            ", s.xmin::text::bigint AS revision FROM secrets s{} ORDER BY s.id LIMIT ${} OFFSET ${}"
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
        .try_map(|r: PgRow| SecretRecord::from_row(&r))
        .fetch_all(&mut *c)
        .await
        .map_err(pg("list secrets"))?;
    Ok((u64::try_from(total).unwrap_or_default(), rows))
}

async fn version_metas(
    c: &mut PgConnection,
    secret_id: i64,
) -> Result<Vec<VersionMeta>, StoreError> {
    sqlx::query(
        "SELECT version_id, created_at FROM secret_versions WHERE secret_id = $1 ORDER BY seq",
    )
    .bind(secret_id)
    .try_map(|r: PgRow| VersionMeta::from_row(&r))
    .fetch_all(c)
    .await
    .map_err(pg("read versions"))
}

/// Whether the key `key_id` may seal a new secret version now. Run inside the write that
/// inserts the version; the key row is read FOR SHARE, so a DisableKey or ScheduleKeyDeletion
/// (which lock it FOR UPDATE) either committed first and is seen here, or waits for this write
/// and then sees the secret it created. The service-managed key (`service_key`) is always
/// usable: no action changes its state.
async fn sealing_key_check(
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
    sealing_verdict(state)
}

/// Locks the key a secret names as its EncryptionKeyId, when it is not the sealing key already
/// locked by [`sealing_key_check`], so a racing ScheduleKeyDeletion counts this secret.
async fn share_key(c: &mut PgConnection, key_id: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM keys WHERE key_id = $1 FOR SHARE")
        .bind(key_id)
        .fetch_optional(c)
        .await
        .map_err(pg("lock encryption key"))?;
    Ok(())
}

/// Inserts a secret unless its name is taken; its id, or `None` when taken. A concurrent
/// insert of the same name makes this wait for it and then report the name taken.
async fn insert_secret(c: &mut PgConnection, s: &SecretRecord) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "INSERT INTO secrets (name, secret_type, description, encryption_key_id, dkms_instance_id, extended_config, rotation_enabled, rotation_interval, next_rotation_at, last_rotation_at, policy, stages, created_at, updated_at, planned_delete_at, rotation_state, rotation_due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(&s.name)
    .bind(s.secret_type.wire_name())
    .bind(&s.description)
    .bind(&s.encryption_key_id)
    .bind(&s.dkms_instance_id)
    .bind(&s.extended_config)
    .bind(s.rotation.enabled)
    .bind(s.rotation.interval_secs)
    .bind(s.rotation.next_at)
    .bind(s.rotation.last_at)
    .bind(&s.policy)
    .bind(s.stages_json()?)
    .bind(s.created_at)
    .bind(s.updated_at)
    .bind(s.planned_delete_at)
    .bind(s.progress_json()?)
    .bind(s.rotation_due())
    .fetch_optional(c)
    .await
    .map_err(pg("write secret"))
}

async fn update_secret_row(c: &mut PgConnection, s: &SecretRecord) -> Result<(), StoreError> {
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
    .bind(s.stages_json()?)
    .bind(s.updated_at)
    .bind(s.planned_delete_at)
    .bind(s.progress_json()?)
    .bind(s.rotation_due())
    .execute(c)
    .await
    .map_err(pg("update secret"))?;
    Ok(())
}

/// Inserts a version after the secret's others; the caller holds the secret's row lock (or
/// created the secret), so no other writer computes the same `seq`.
async fn insert_version(
    c: &mut PgConnection,
    secret_id: i64,
    v: &VersionRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO secret_versions (secret_id, version_id, seq, data_type, key_id, key_version_id, wrapped_key, ciphertext, created_at) VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM secret_versions WHERE secret_id = $1), $3, $4, $5, $6, $7, $8)",
    )
    .bind(secret_id)
    .bind(&v.version_id)
    .bind(v.data_type.wire_name())
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
