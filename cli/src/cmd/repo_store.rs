//! Where a repository is: a local directory or an `s3://bucket/prefix` URL, and how an object
//! store is reached (the `--endpoint`, `--region`, `--allow-http`, `--transfers`,
//! `--rate-limit` flags of `strata repo`, over the standard AWS environment variables).
//!
//! The environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`) is read by the
//! `object_store` client; a flag given here overrides its variable.
//!
//! Invariants: an argument is a URL only when it starts `s3://`; any other `scheme://` is
//! refused with one line (never taken as a relative directory named `scheme:`); store flags
//! with a local repository are bad usage (exit 2), not silently ignored.
//!
//! Thread safety: plain data.

use crate::output::CliError;
use clap::Args;
use std::path::{Path, PathBuf};
use strata_checkpoint::StoreOptions;

/// How an `s3://` repository is reached. Every flag overrides its environment variable.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// S3 endpoint URL, e.g. http://127.0.0.1:9000 for a local server (default:
    /// AWS_ENDPOINT_URL, else AWS itself).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Region of the bucket (default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Allow a plain http:// endpoint (local servers only; default: AWS_ALLOW_HTTP).
    #[arg(long, global = true)]
    pub allow_http: bool,
    /// Transfers in flight at once: files, and the parts and ranges of all of them together
    /// (default 4).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub transfers: Option<u16>,
    /// Limit all transfers of the command together to this many bytes per second.
    #[arg(long, global = true, value_name = "BYTES_PER_SEC", value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit: Option<u64>,
}

impl StoreArgs {
    fn any_given(&self) -> bool {
        self.endpoint.is_some()
            || self.region.is_some()
            || self.allow_http
            || self.transfers.is_some()
            || self.rate_limit.is_some()
    }

    /// The store options these flags give (unset ones are left to the environment).
    pub fn options(&self) -> StoreOptions {
        let defaults = StoreOptions::default();
        StoreOptions {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            allow_http: self.allow_http,
            parallelism: self.transfers.map_or(defaults.parallelism, usize::from),
            rate_limit_bytes_per_sec: self.rate_limit,
            ..defaults
        }
    }
}

/// A repository argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    /// `s3://bucket/prefix`, as given.
    S3(String),
}

impl Location {
    /// Classifies `arg`; other URL schemes are refused; store flags need a URL.
    pub fn of(arg: &Path, store: &StoreArgs) -> Result<Self, CliError> {
        let s = arg.to_string_lossy();
        if s.starts_with("s3://") {
            return Ok(Self::S3(s.into_owned()));
        }
        if let Some((scheme, _)) = s.split_once("://")
            && !scheme.is_empty()
            && scheme.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(CliError::Failed {
                message: format!(
                    "{s}: {scheme}:// repositories are not supported; give a local path or an s3://bucket/prefix URL"
                ),
                file: Some(s.into_owned()),
                offset: None,
            });
        }
        if store.any_given() {
            return Err(CliError::Usage(format!(
                "{s} is a local repository: --endpoint, --region, --allow-http, --transfers and --rate-limit \
                 apply to s3:// repositories only"
            )));
        }
        Ok(Self::Local(arg.to_path_buf()))
    }
}

/// `message` on one line (object-store errors may quote a multi-line response body).
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn locations_are_classified_and_flags_need_a_url() {
        let none = StoreArgs::default();
        assert_eq!(Location::of(Path::new("/backups/app"), &none).unwrap(), Location::Local("/backups/app".into()));
        assert_eq!(Location::of(Path::new("s3://b/p"), &none).unwrap(), Location::S3("s3://b/p".into()));
        assert!(matches!(Location::of(Path::new("gs://b/p"), &none), Err(CliError::Failed { .. })));
        let flags = StoreArgs { transfers: Some(8), ..StoreArgs::default() };
        assert!(matches!(Location::of(Path::new("/backups/app"), &flags), Err(CliError::Usage(_))));
        assert!(matches!(Location::of(Path::new("s3://b/p"), &flags).unwrap(), Location::S3(_)));
    }

    #[test]
    fn flags_become_store_options() {
        let o = StoreArgs::default().options();
        assert_eq!((o.endpoint, o.parallelism, o.rate_limit_bytes_per_sec, o.allow_http), (None, 4, None, false));
        let a = StoreArgs {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("eu-west-1".into()),
            allow_http: true,
            transfers: Some(16),
            rate_limit: Some(1000),
        };
        let o = a.options();
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert_eq!((o.parallelism, o.rate_limit_bytes_per_sec, o.allow_http), (16, Some(1000), true));
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
