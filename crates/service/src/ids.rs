//! Identifier generation from the OS CSPRNG: account ids, instance ids, key ids, UUIDs.

use ring::rand::{SecureRandom, SystemRandom};

use crate::Error;

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::internal("draw random bytes"))?;
    Ok(b)
}

/// `n` lower-case alphanumerics; 252 = 7 * 36 keeps the draw free of modulo bias.
fn alnum(n: usize) -> Result<String, Error> {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes::<32>()? {
            if b < 252 && out.len() < n {
                if let Some(&c) = ALNUM.get(usize::from(b) % 36) {
                    out.push(char::from(c));
                }
            }
        }
    }
    Ok(out)
}

/// A 16-digit account id that does not start with 0.
pub fn account_id() -> Result<String, Error> {
    let mut out = String::with_capacity(16);
    while out.len() < 16 {
        for b in random_bytes::<32>()? {
            if b < 250 && out.len() < 16 {
                let d = b % 10;
                if !(out.is_empty() && d == 0) {
                    out.push(char::from(b'0' + d));
                }
            }
        }
    }
    Ok(out)
}

/// Three letters naming the region inside ids, as Alibaba's ids do (`hzz` for Hangzhou).
pub fn region_code(region: &str) -> String {
    let known = [
        ("cn-hangzhou", "hzz"),
        ("cn-shanghai", "shh"),
        ("cn-beijing", "bjj"),
        ("cn-shenzhen", "szz"),
        ("cn-qingdao", "qdd"),
        ("cn-zhangjiakou", "zjk"),
        ("cn-hongkong", "hkk"),
        ("ap-southeast-1", "sgg"),
    ];
    if let Some((_, c)) = known.iter().find(|(r, _)| *r == region) {
        return (*c).to_owned();
    }
    let city = region
        .rsplit('-')
        .find(|part| part.chars().any(|c| c.is_ascii_alphabetic()))
        .unwrap_or(region);
    let mut code: String = city
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(3)
        .collect();
    while code.len() < 3 {
        code.push('x');
    }
    code.to_ascii_lowercase()
}

/// `kst-<region code><20 alnum>`.
pub fn instance_id(region: &str) -> Result<String, Error> {
    Ok(format!("kst-{}{}", region_code(region), alnum(20)?))
}

/// `key-<region code><21 alnum>` (kms-api.md §5).
pub fn key_id(region: &str) -> Result<String, Error> {
    Ok(format!("key-{}{}", region_code(region), alnum(21)?))
}

/// A random UUID (version 4), for key version ids.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `LTAI` + 20 alnum, the shape of Alibaba access key ids.
pub fn access_key_id() -> Result<String, Error> {
    Ok(format!("LTAI{}", alnum(20)?))
}

/// A 30-character access key secret.
pub fn access_key_secret() -> Result<String, Error> {
    let mut s = alnum(30)?;
    // Mixed case like Alibaba's secrets; positions chosen by more random bits.
    let flips = random_bytes::<30>()?;
    s = s
        .chars()
        .zip(flips)
        .map(|(c, f)| {
            if f & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_alibaba_shapes() {
        let a = account_id().unwrap();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_digit()) && !a.starts_with('0'));
        let k = key_id("cn-hangzhou").unwrap();
        assert!(k.starts_with("key-hzz") && k.len() == 4 + 3 + 21);
        assert!(instance_id("cn-hangzhou").unwrap().starts_with("kst-hzz"));
        assert_eq!(uuid().len(), 36);
        assert_eq!(region_code("eu-central-1"), "cen");
    }
}
