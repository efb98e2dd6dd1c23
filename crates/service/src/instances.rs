//! KMS instances: ListKmsInstances and GetKmsInstance. A server has one default instance
//! (created at initialisation); secrets without DKMSInstanceId belong to it.

use openkms_domain::paging::Page;
use openkms_domain::{instance_arn, ValidationError};
use openkms_store::InstanceRecord;

use crate::{Caller, Error, Service};

const MAX_PAGE_SIZE: u64 = 100;

/// A KMS instance with what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub instance_id: String,
    pub arn: String,
    pub created_at: i64,
    pub key_count: u64,
    pub secret_count: u64,
}

/// One page of instances.
#[derive(Debug)]
pub struct InstancePage {
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub instances: Vec<InstanceView>,
}

impl Service {
    /// ListKmsInstances. `Filters` may select by `KmsInstanceId` (values OR-ed); other keys are
    /// refused rather than ignored.
    pub async fn list_kms_instances(
        &self,
        _c: &Caller,
        page_number: Option<u64>,
        page_size: Option<u64>,
        filters: Option<&str>,
    ) -> Result<InstancePage, Error> {
        let page = Page::parse(page_number, page_size, 20, MAX_PAGE_SIZE)?;
        let wanted = filters.map(instance_filter).transpose()?;
        let offset = page.offset();
        let (total, found_page) = match &wanted {
            None => self.store.instances(offset, page.size).await?,
            Some(ids) => {
                let mut found = Vec::new();
                for id in ids {
                    if let Some(rec) = self.store.instance(id).await? {
                        found.push(rec);
                    }
                }
                let total = found.len() as u64;
                let skip = usize::try_from(offset).unwrap_or(usize::MAX);
                let take = usize::try_from(page.size).unwrap_or(usize::MAX);
                (total, found.into_iter().skip(skip).take(take).collect())
            }
        };
        Ok(InstancePage {
            page_number: page.number,
            page_size: page.size,
            total_count: total,
            instances: found_page
                .into_iter()
                .map(|r| self.instance_view(r))
                .collect(),
        })
    }

    /// GetKmsInstance.
    pub async fn get_kms_instance(&self, _c: &Caller, id: &str) -> Result<InstanceView, Error> {
        let rec = self
            .store
            .instance(id)
            .await?
            .ok_or(Error::InstanceNotFound)?;
        Ok(self.instance_view(rec))
    }

    fn instance_view(&self, r: InstanceRecord) -> InstanceView {
        InstanceView {
            arn: instance_arn(self.region(), self.account_id(), &r.instance_id),
            instance_id: r.instance_id,
            created_at: r.created_at,
            key_count: r.key_count,
            secret_count: r.secret_count,
        }
    }
}

fn instance_filter(text: &str) -> Result<Vec<String>, Error> {
    let invalid = || {
        ValidationError::invalid(
            "Filters",
            "only the key KmsInstanceId with a list of Values is supported",
        )
    };
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| ValidationError::InvalidJson { param: "Filters" })?;
    let mut ids = Vec::new();
    for item in v.as_array().ok_or_else(invalid)? {
        if item.get("Key").and_then(|k| k.as_str()) != Some("KmsInstanceId") {
            return Err(invalid().into());
        }
        for value in item
            .get("Values")
            .and_then(|v| v.as_array())
            .ok_or_else(invalid)?
        {
            ids.push(value.as_str().ok_or_else(invalid)?.to_owned());
        }
    }
    Ok(ids)
}
