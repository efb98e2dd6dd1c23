//! KMS instances: ListKmsInstances and GetKmsInstance. A server has one default instance
//! (created at initialisation); secrets without DKMSInstanceId belong to it.

use openkms_domain::paging::Page;
use openkms_domain::{instance_arn, ValidationError};
use openkms_store::InstanceRecord;

use crate::{Caller, Error, Service};

const MAX_PAGE_SIZE: u64 = 100;

/// One page of instances with their ARNs.
#[derive(Debug)]
pub struct InstancePage {
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub instances: Vec<(InstanceRecord, String)>,
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
                .map(|r| {
                    let arn = instance_arn(self.region(), self.account_id(), &r.instance_id);
                    (r, arn)
                })
                .collect(),
        })
    }

    /// GetKmsInstance.
    pub async fn get_kms_instance(&self, _c: &Caller, id: &str) -> Result<InstanceRecord, Error> {
        self.store
            .instance(id)
            .await?
            .ok_or(Error::InstanceNotFound)
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
