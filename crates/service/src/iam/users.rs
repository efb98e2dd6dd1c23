//! RAM users: CreateUser, GetUser, UpdateUser, DeleteUser, ListUsers.

use openkms_domain::UserName;
use openkms_store::{
    CreateUserOutcome, DeleteUserOutcome, UpdateUserOutcome, UserRecord, UserUpdate,
};

use super::{check_len, existing_user, max_items_of, MarkerPage};
use crate::{ids, Caller, Error, Service};

/// CreateUser input.
#[derive(Debug, Default)]
pub struct NewUser<'a> {
    pub user_name: &'a str,
    pub display_name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub mobile_phone: Option<&'a str>,
    pub comments: Option<&'a str>,
}

/// UpdateUser input.
#[derive(Debug, Default)]
pub struct UserChange<'a> {
    pub new_user_name: Option<&'a str>,
    pub new_display_name: Option<&'a str>,
    pub new_email: Option<&'a str>,
    pub new_mobile_phone: Option<&'a str>,
    pub new_comments: Option<&'a str>,
}

/// A RAM user as the RAM replies show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    pub user_name: String,
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub mobile_phone: String,
    pub comments: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            user_name: u.user_name.into_string(),
            user_id: u.user_id,
            display_name: u.display_name,
            email: u.email,
            mobile_phone: u.mobile_phone,
            comments: u.comments,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

impl Service {
    /// CreateUser.
    pub async fn create_user(&self, caller: &Caller, new: NewUser<'_>) -> Result<UserView, Error> {
        self.require_root(caller, "CreateUser", &format!("user/{}", new.user_name))?;
        let user_name = UserName::parse(new.user_name)?;
        let display = new.display_name.unwrap_or(new.user_name);
        check_len("DisplayName", display, 128)?;
        check_len("Comments", new.comments.unwrap_or(""), 128)?;
        let now = self.now();
        let user = UserRecord {
            user_name,
            user_id: ids::account_id()?,
            display_name: display.to_owned(),
            email: new.email.unwrap_or("").to_owned(),
            mobile_phone: new.mobile_phone.unwrap_or("").to_owned(),
            comments: new.comments.unwrap_or("").to_owned(),
            created_at: now,
            updated_at: now,
        };
        match self.store.create_user(user.clone()).await? {
            CreateUserOutcome::Created => Ok(user.into()),
            CreateUserOutcome::Exists => Err(Error::UserExists {
                name: new.user_name.to_owned(),
            }),
        }
    }

    /// GetUser.
    pub async fn get_user(&self, caller: &Caller, name: &str) -> Result<UserView, Error> {
        self.require_root(caller, "GetUser", &format!("user/{name}"))?;
        self.store
            .user(&existing_user(name)?)
            .await?
            .map(UserView::from)
            .ok_or_else(|| Error::UserNotFound {
                name: name.to_owned(),
            })
    }

    /// UpdateUser.
    pub async fn update_user(
        &self,
        caller: &Caller,
        name: &str,
        change: UserChange<'_>,
    ) -> Result<UserView, Error> {
        self.require_root(caller, "UpdateUser", &format!("user/{name}"))?;
        let new_user_name = change
            .new_user_name
            .map(|n| UserName::parse_as("NewUserName", n))
            .transpose()?;
        if let Some(d) = change.new_display_name {
            check_len("NewDisplayName", d, 128)?;
        }
        if let Some(c) = change.new_comments {
            check_len("NewComments", c, 128)?;
        }
        let user_name = existing_user(name)?;
        let update = UserUpdate {
            new_user_name,
            display_name: change.new_display_name.map(str::to_owned),
            email: change.new_email.map(str::to_owned),
            mobile_phone: change.new_mobile_phone.map(str::to_owned),
            comments: change.new_comments.map(str::to_owned),
            updated_at: self.now(),
        };
        match self.store.update_user(&user_name, update).await? {
            UpdateUserOutcome::Updated(user) => {
                // Cached keys carry the old principal name: drop them.
                let old = format!("user/{name}");
                self.forget_access_keys(|_, e| e.principal == old);
                self.forget_identity_policies();
                Ok(user.into())
            }
            UpdateUserOutcome::NotFound => Err(Error::UserNotFound {
                name: name.to_owned(),
            }),
            UpdateUserOutcome::NameTaken => Err(Error::UserExists {
                name: change.new_user_name.unwrap_or(name).to_owned(),
            }),
        }
    }

    /// DeleteUser.
    pub async fn delete_user(&self, caller: &Caller, name: &str) -> Result<(), Error> {
        self.require_root(caller, "DeleteUser", &format!("user/{name}"))?;
        match self.store.delete_user(&existing_user(name)?).await? {
            DeleteUserOutcome::Deleted => {
                self.forget_identity_policies();
                Ok(())
            }
            DeleteUserOutcome::NotFound => Err(Error::UserNotFound {
                name: name.to_owned(),
            }),
            DeleteUserOutcome::HasAccessKeys => Err(Error::UserHasAccessKeys),
            DeleteUserOutcome::HasPolicies => Err(Error::UserHasPolicies),
        }
    }

    /// ListUsers.
    pub async fn list_users(
        &self,
        caller: &Caller,
        marker: Option<&str>,
        max_items: Option<u64>,
    ) -> Result<MarkerPage<UserView>, Error> {
        self.require_root(caller, "ListUsers", "user/*")?;
        let limit = max_items_of(max_items)?;
        let (items, more) = self.store.list_users(marker, limit).await?;
        let items = items.into_iter().map(UserView::from).collect();
        Ok(MarkerPage::new(items, more, |u: &UserView| &u.user_name))
    }
}
