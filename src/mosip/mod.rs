//! mosip
