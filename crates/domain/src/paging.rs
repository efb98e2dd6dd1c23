//! PageNumber / PageSize of the list actions: 1-based pages, a default and a largest size.

use crate::error::ValidationError;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

impl Page {
    /// Validates PageNumber (≥ 1, default 1) and PageSize (1..=`max`, default `default`).
    pub fn parse(
        number: Option<u64>,
        size: Option<u64>,
        default: u64,
        max: u64,
    ) -> Result<Self, ValidationError> {
        let number = number.unwrap_or(1);
        let size = size.unwrap_or(default);
        if number == 0 {
            return Err(ValidationError::invalid(
                "PageNumber",
                "it must be 1 or more",
            ));
        }
        if size == 0 || size > max {
            return Err(ValidationError::invalid(
                "PageSize",
                format!("it must be between 1 and {max}"),
            ));
        }
        Ok(Self { number, size })
    }

    /// Rows to skip before this page.
    pub fn offset(self) -> u64 {
        (self.number - 1).saturating_mul(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bounds_and_offset() {
        assert_eq!(
            Page::parse(None, None, 10, 100).unwrap(),
            Page {
                number: 1,
                size: 10
            }
        );
        assert_eq!(
            Page::parse(Some(3), Some(20), 10, 100).unwrap().offset(),
            40
        );
        assert!(Page::parse(Some(0), None, 10, 100).is_err());
        assert!(Page::parse(None, Some(0), 10, 100).is_err());
        assert!(Page::parse(None, Some(101), 10, 100).is_err());
        assert_eq!(
            Page::parse(Some(u64::MAX), Some(100), 10, 100)
                .unwrap()
                .offset(),
            u64::MAX
        );
    }
}
