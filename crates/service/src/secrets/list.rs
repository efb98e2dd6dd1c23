//! ListSecrets: one page of secrets' metadata, filtered in the store by indexed queries; the
//! page, not the number of secrets, bounds what is loaded.

use std::collections::HashMap;

use openkms_domain::filters::SecretFilter;
use openkms_domain::paging::Page;
use openkms_store::TagRecord;

use super::SecretView;
use crate::tags::{tag_views, TagView};
use crate::{Caller, Error, Service};

const DEFAULT_PAGE_SIZE: u64 = 10;
const MAX_PAGE_SIZE: u64 = 100;

/// ListSecrets parameters.
#[derive(Debug, Default)]
pub struct ListSecretsInput<'a> {
    pub page_number: Option<u64>,
    pub page_size: Option<u64>,
    pub fetch_tags: bool,
    pub filters: Option<&'a str>,
}

/// One page of secrets.
#[derive(Debug)]
pub struct SecretPage {
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    /// Each secret with its tags when asked for.
    pub secrets: Vec<(SecretView, Option<Vec<TagView>>)>,
}

impl Service {
    /// ListSecrets.
    pub async fn list_secrets(
        &self,
        _caller: &Caller,
        input: ListSecretsInput<'_>,
    ) -> Result<SecretPage, Error> {
        let page = Page::parse(
            input.page_number,
            input.page_size,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        )?;
        let filter = match input.filters {
            Some(f) => SecretFilter::parse(f)?,
            None => SecretFilter::default(),
        };
        let (total_count, records) = self
            .store
            .list_secrets(&filter, page.offset(), page.size)
            .await?;
        let mut tags: HashMap<i64, Vec<TagRecord>> = HashMap::new();
        if input.fetch_tags {
            let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
            for (id, t) in self.store.tags_of(&ids).await? {
                tags.entry(id).or_default().push(t);
            }
        }
        let secrets = records
            .into_iter()
            .map(|r| {
                let t = input
                    .fetch_tags
                    .then(|| tag_views(tags.remove(&r.id).unwrap_or_default()));
                (SecretView::from(&r), t)
            })
            .collect();
        Ok(SecretPage {
            page_number: page.number,
            page_size: page.size,
            total_count,
            secrets,
        })
    }
}
