//! GetRandomPassword: the rules are `domain::PasswordRules`; the bytes come from the OS
//! CSPRNG.

use openkms_domain::{PasswordRequest, PasswordRules};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::{Caller, Error, Service};

/// Random bytes drawn per attempt: enough for a 128-character password several times over.
const DRAW_BYTES: usize = 1_024;
/// Attempts before giving up. With RequireEachIncludedType and a class reduced to one
/// character an attempt still succeeds with probability above 1/2, so this is never reached
/// in practice; it only bounds the loop.
const MAX_ATTEMPTS: usize = 64;

impl Service {
    /// GetRandomPassword.
    pub fn get_random_password(
        &self,
        _caller: &Caller,
        request: &PasswordRequest<'_>,
    ) -> Result<String, Error> {
        let rules = PasswordRules::parse(request)?;
        let rng = SystemRandom::new();
        let mut bytes = Zeroizing::new([0u8; DRAW_BYTES]);
        for _ in 0..MAX_ATTEMPTS {
            rng.fill(bytes.as_mut())
                .map_err(|_| Error::internal("draw random bytes"))?;
            if let Some(password) = rules.password_from(bytes.as_ref()) {
                return Ok(password);
            }
        }
        Err(Error::internal("draw a random password"))
    }
}
