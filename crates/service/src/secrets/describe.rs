//! DescribeSecret and ListSecretVersionIds: metadata only, nothing is decrypted.

use super::SecretView;
use crate::tags::{tag_views, TagView};
use crate::{Caller, Error, Service};
use openkms_domain::paging::Page;
use openkms_domain::secret_arn;

/// DescribeSecret's view of a secret.
#[derive(Debug)]
pub struct SecretDescription {
    pub arn: String,
    pub secret: SecretView,
    /// Present when tags were asked for.
    pub tags: Option<Vec<TagView>>,
}

/// One version in a listing.
#[derive(Debug)]
pub struct VersionSummary {
    pub version_id: String,
    pub created_at: i64,
    pub stages: Vec<String>,
}

/// One page of versions.
#[derive(Debug)]
pub struct VersionListing {
    pub secret_name: String,
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub versions: Vec<VersionSummary>,
}

/// Default and largest page sizes of ListSecretVersionIds (the largest is unconfirmed; 100 as
/// for the other list actions).
const DEFAULT_PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

impl Service {
    /// DescribeSecret.
    pub async fn describe_secret(
        &self,
        _caller: &Caller,
        secret_name: &str,
        fetch_tags: bool,
    ) -> Result<SecretDescription, Error> {
        let name = self.secret_name(secret_name)?;
        let secret = self.find_secret(&name).await?;
        let tags = if fetch_tags {
            Some(tag_views(self.store.secret_tags(secret.id).await?))
        } else {
            None
        };
        Ok(SecretDescription {
            arn: secret_arn(self.region(), self.account_id(), &name),
            secret: SecretView::from(secret.as_ref()),
            tags,
        })
    }

    /// ListSecretVersionIds: newest first; unlabelled versions only with `include_deprecated`.
    pub async fn list_secret_versions(
        &self,
        _caller: &Caller,
        secret_name: &str,
        include_deprecated: bool,
        page_number: Option<u64>,
        page_size: Option<u64>,
    ) -> Result<VersionListing, Error> {
        let page = Page::parse(page_number, page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let name = self.secret_name(secret_name)?;
        let secret = self.find_secret(&name).await?;
        let mut all: Vec<VersionSummary> = self
            .store
            .versions(secret.id)
            .await?
            .into_iter()
            .rev()
            .map(|v| VersionSummary {
                stages: secret.stages.labels_of(&v.version_id),
                version_id: v.version_id,
                created_at: v.created_at,
            })
            .filter(|v| include_deprecated || !v.stages.is_empty())
            .collect();
        let total_count = all.len() as u64;
        let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let take = usize::try_from(page.size).unwrap_or(usize::MAX);
        let versions: Vec<VersionSummary> = all.drain(..).skip(skip).take(take).collect();
        Ok(VersionListing {
            secret_name: secret.name.clone(),
            page_number: page.number,
            page_size: page.size,
            total_count,
            versions,
        })
    }
}
