//! A rule's life: draft → active ⇄ paused → archived, with shadow beside
//! active (evaluated on live events, nothing applied).

use questline_kit::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleStatus {
    Draft,
    Shadow,
    Active,
    Paused,
    Archived,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Draft => "draft",
            RuleStatus::Shadow => "shadow",
            RuleStatus::Active => "active",
            RuleStatus::Paused => "paused",
            RuleStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Result<RuleStatus, DomainError> {
        [
            RuleStatus::Draft,
            RuleStatus::Shadow,
            RuleStatus::Active,
            RuleStatus::Paused,
            RuleStatus::Archived,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| DomainError::internal(format!("unknown rule status {s}")))
    }

    /// Whether live events are evaluated against the rule.
    pub fn is_live(self) -> bool {
        matches!(self, RuleStatus::Active | RuleStatus::Shadow)
    }

    /// Checks a move to `to`; moving to the status it has is allowed (a replay).
    pub fn may_become(self, to: RuleStatus) -> Result<(), DomainError> {
        use RuleStatus::*;
        let allowed = self == to
            || match to {
                Active | Shadow => matches!(self, Draft | Paused | Active | Shadow),
                Paused => matches!(self, Active | Shadow),
                Archived => true,
                Draft => false,
            };
        if allowed {
            Ok(())
        } else {
            Err(DomainError::precondition(
                "RULE_STATUS",
                self.as_str(),
                format!("a {} rule cannot become {}", self.as_str(), to.as_str()),
            ))
        }
    }

    /// Edits make new versions of any rule not archived.
    pub fn may_edit(self) -> Result<(), DomainError> {
        if self == RuleStatus::Archived {
            return Err(DomainError::precondition(
                "RULE_ARCHIVED",
                self.as_str(),
                "an archived rule cannot be edited",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::RuleStatus::*;
    use super::*;

    #[test]
    fn the_life_of_a_rule() {
        let table = [
            (Draft, Active, true),
            (Draft, Shadow, true),
            (Draft, Paused, false),
            (Shadow, Active, true),
            (Active, Shadow, true),
            (Active, Paused, true),
            (Paused, Active, true),
            (Active, Active, true),
            (Active, Draft, false),
            (Paused, Archived, true),
            (Archived, Active, false),
            (Archived, Archived, true),
        ];
        for (from, to, ok) in table {
            assert_eq!(from.may_become(to).is_ok(), ok, "{from:?} → {to:?}");
        }
        assert!(Archived.may_edit().is_err());
        assert!(Paused.may_edit().is_ok());
        for s in [Draft, Shadow, Active, Paused, Archived] {
            assert_eq!(RuleStatus::parse(s.as_str()).ok(), Some(s));
        }
        assert!(RuleStatus::parse("live").is_err());
    }
}
