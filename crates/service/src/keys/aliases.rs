//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, ListAliasesByKeyId. An alias
//! may point at an Enabled or Disabled user key, not at one pending deletion.

use openkms_domain::alias_arn;
use openkms_domain::key::{AliasName, KeyState};
use openkms_store::{AliasOutcome, AliasRecord, KeyRecord};

use super::Paging;
use crate::{Caller, Error, Service};

/// One alias as listed.
#[derive(Debug, Clone)]
pub struct AliasView {
    pub alias_name: String,
    pub alias_arn: String,
    pub key_id: String,
}

/// One page of ListAliases / ListAliasesByKeyId.
#[derive(Debug)]
pub struct AliasPage {
    pub page_number: u64,
    pub page_size: u64,
    pub total: u64,
    pub aliases: Vec<AliasView>,
}

impl Service {
    /// CreateAlias.
    pub async fn create_alias(&self, _c: &Caller, alias: &str, key_id: &str) -> Result<(), Error> {
        let name = AliasName::parse(alias)?;
        let key = self.alias_target(key_id).await?;
        match self
            .store
            .create_alias(AliasRecord {
                alias_name: name.as_str().to_owned(),
                key_id: key.key_id,
                created_at: self.now(),
            })
            .await?
        {
            AliasOutcome::Applied => Ok(()),
            AliasOutcome::Taken | AliasOutcome::NotFound => Err(Error::AliasExists {
                name: name.as_str().to_owned(),
            }),
        }
    }

    /// UpdateAlias: points an existing alias at another key. With `from` (the key the alias
    /// named when the caller was authorized on it), the alias moves only if it still names
    /// that key; if it was moved meanwhile the call is refused (409), never applied to a key
    /// the caller was not checked on.
    pub async fn update_alias(
        &self,
        _c: &Caller,
        alias: &str,
        key_id: &str,
        from: Option<&str>,
    ) -> Result<(), Error> {
        let name = AliasName::parse(alias)?;
        let key = self.alias_target(key_id).await?;
        match self
            .store
            .update_alias(name.as_str(), &key.key_id, from)
            .await?
        {
            AliasOutcome::Applied => Ok(()),
            AliasOutcome::Taken | AliasOutcome::NotFound => {
                Err(self.alias_lost(&name, from).await?)
            }
        }
    }

    /// DeleteAlias; with `from`, only while the alias still names that key (as UpdateAlias).
    pub async fn delete_alias(
        &self,
        _c: &Caller,
        alias: &str,
        from: Option<&str>,
    ) -> Result<(), Error> {
        let name = AliasName::parse(alias).map_err(|_| Error::AliasNotFound)?;
        match self.store.delete_alias(name.as_str(), from).await? {
            AliasOutcome::Applied => Ok(()),
            AliasOutcome::Taken | AliasOutcome::NotFound => {
                Err(self.alias_lost(&name, from).await?)
            }
        }
    }

    /// ListAliases (every alias) or ListAliasesByKeyId (`key_id` given), by name.
    pub async fn list_aliases(
        &self,
        key_id: Option<&str>,
        paging: Paging,
    ) -> Result<AliasPage, Error> {
        let key = match key_id {
            Some(k) => Some(self.resolve_key(k).await?.key_id),
            None => None,
        };
        let (total, rows) = self
            .store
            .aliases(key.as_deref(), paging.offset(), paging.size)
            .await?;
        Ok(AliasPage {
            page_number: paging.number,
            page_size: paging.size,
            total,
            aliases: rows
                .into_iter()
                .map(|a| AliasView {
                    alias_arn: alias_arn(self.region(), self.account_id(), &a.alias_name),
                    alias_name: a.alias_name,
                    key_id: a.key_id,
                })
                .collect(),
        })
    }

    /// Why a conditional alias change did not apply: the alias is gone (404), or it names
    /// another key than the one authorized (409).
    async fn alias_lost(&self, name: &AliasName, from: Option<&str>) -> Result<Error, Error> {
        Ok(match (from, self.store.alias(name.as_str()).await?) {
            (Some(_), Some(_)) => Error::AliasMoved,
            _ => Error::AliasNotFound,
        })
    }

    async fn alias_target(&self, key_id: &str) -> Result<KeyRecord, Error> {
        let key = self.resolve_user_key(key_id).await?;
        if key.key_state == KeyState::PendingDeletion {
            return Err(Error::KeyPendingDeletion);
        }
        Ok(key)
    }
}
