//! The data transfers of [`ObjectStore`]: a file up by one PUT or a multipart upload, a file
//! down by one streamed GET or by ranged GETs, and how a download is split; an object read once
//! by one streamed GET for a check (verify).
//!
//! Invariants: every data request holds one of the store's `parallelism` permits while in
//! flight; a failed multipart upload is aborted; a download checks the object's size from the
//! first response and never writes more than that many bytes; a downloaded file is fsynced
//! before it is reported done.
//!
//! Thread safety: as [`ObjectStore`]: each call blocks its own thread on the shared runtime.

use super::{ObjectStore, is_not_found, obj_err};
use crate::store::{Put, Store, Transfer};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{GetOptions, GetRange, ObjectStore as _, PutMode, PutOptions, PutPayload};
use std::io;
use std::path::Path;
use strata::{Error, Result};
use strata_base::{FileSystem, RandomAccessFile};

impl ObjectStore {
    /// Uploads local file `src` as `key` by a multipart upload, aborting it on failure. Each
    /// part is a task holding one of the store's permits until it is sent.
    async fn upload_multipart(&self, obj: &ObjPath, file: &dyn RandomAccessFile, url: &str) -> Result<()> {
        let mut upload = self.s3.put_multipart(obj).await.map_err(|e| obj_err("multipart start", url, e))?;
        let total = file.len();
        let mut off = 0;
        let mut parts = Vec::new();
        let written: Result<()> = async {
            while off < total {
                let n = (total - off).min(self.opts.part_bytes as u64);
                // n <= part_bytes, a usize.
                let data = file.read_at(off, n as usize).map_err(|e| Error::io(url, e))?;
                Self::pace(self.rate.as_ref(), data.len()).await;
                let permit = self.permit().await;
                let part = upload.put_part(PutPayload::from(data));
                parts.push(tokio::spawn(async move {
                    let sent = part.await;
                    drop(permit);
                    sent
                }));
                off += n;
            }
            for p in parts.drain(..) {
                match p.await {
                    Ok(sent) => sent.map_err(|e| obj_err("multipart part", url, e))?,
                    Err(e) => return Err(Error::io(url, io::Error::other(format!("multipart part task: {e}")))),
                }
            }
            Ok(())
        }
        .await;
        match written {
            Ok(()) => upload.complete().await.map(|_| ()).map_err(|e| obj_err("multipart complete", url, e)),
            Err(e) => {
                for p in parts {
                    p.abort();
                }
                let _ = upload.abort().await;
                Err(e)
            }
        }
    }

    /// Downloads `obj`, which must be `size` bytes, to a new local file `dst`, fsynced, passing
    /// every byte to `on_data` in order. In one GET streamed into the file when `range_len`
    /// covers the object, else in ranged GETs of `range_len` bytes (up to `parallelism` in
    /// flight) appended in order. The object's size comes with the first response: no HEAD.
    #[allow(clippy::too_many_arguments, reason = "one private step of get_file and get_file_checked")]
    pub(super) async fn download(
        &self,
        obj: &ObjPath,
        size: u64,
        range_len: u64,
        dst_fs: &dyn FileSystem,
        dst: &Path,
        url: &str,
        on_data: &mut dyn FnMut(&[u8]),
    ) -> Result<u64> {
        let mut out = dst_fs.create(dst).map_err(|e| Error::io(dst, e))?;
        let wrong_size = |actual: u64| Error::corruption(url, 0, format!("object is {actual} bytes, expected {size}"));
        let rate = self.rate.as_ref();
        let mut done = 0u64;
        let mut write = |data: &[u8]| -> Result<()> {
            done += data.len() as u64;
            if done > size {
                return Err(wrong_size(done));
            }
            out.append(data).map_err(|e| Error::io(dst, e))?;
            on_data(data);
            Ok(())
        };
        if range_len >= size {
            let _permit = self.permit().await;
            let got = self.s3.get_opts(obj, GetOptions::default()).await.map_err(|e| obj_err("get", url, e))?;
            if got.meta.size != size {
                return Err(wrong_size(got.meta.size));
            }
            let mut body = got.into_stream();
            while let Some(chunk) = body.try_next().await.map_err(|e| obj_err("get", url, e))? {
                Self::pace(rate, chunk.len()).await;
                write(&chunk)?;
            }
        } else {
            let ranges: Vec<std::ops::Range<u64>> =
                (0..size.div_ceil(range_len)).map(|i| i * range_len..((i + 1) * range_len).min(size)).collect();
            let s3 = &self.s3;
            let mut parts = futures::stream::iter(ranges)
                .map(|r| async move {
                    Self::pace(rate, (r.end - r.start) as usize).await;
                    let _permit = self.permit().await;
                    let opts = GetOptions { range: Some(GetRange::Bounded(r)), ..GetOptions::default() };
                    let got = s3.get_opts(obj, opts).await.map_err(|e| obj_err("ranged get", url, e))?;
                    if got.meta.size != size {
                        return Err(wrong_size(got.meta.size));
                    }
                    got.bytes().await.map_err(|e| obj_err("ranged get", url, e))
                })
                .buffered(self.opts.parallelism);
            while let Some(data) = parts.try_next().await? {
                write(&data)?;
            }
        }
        if done != size {
            return Err(wrong_size(done));
        }
        out.sync().map_err(|e| Error::io(dst, e))?;
        Ok(done)
    }

    /// Reads `obj`, which should be `size` bytes, in one streamed GET, passing every byte to
    /// `on_data` in order (see [`Store::read_checked`]): `None` if absent, else the object's size,
    /// and no byte passed when that is not `size`; never more than `size` bytes passed.
    pub(super) async fn read_streamed(
        &self,
        obj: &ObjPath,
        size: u64,
        url: &str,
        on_data: &mut dyn FnMut(&[u8]),
    ) -> Result<Option<u64>> {
        let _permit = self.permit().await;
        let got = match self.s3.get_opts(obj, GetOptions::default()).await {
            Ok(got) => got,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(obj_err("get", url, e)),
        };
        if got.meta.size != size {
            return Ok(Some(got.meta.size));
        }
        let mut body = got.into_stream();
        let mut done = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(|e| obj_err("get", url, e))? {
            Self::pace(self.rate.as_ref(), chunk.len()).await;
            done += chunk.len() as u64;
            if done > size {
                // More bytes than the response said: never pass more than `size`.
                return Ok(Some(done));
            }
            on_data(&chunk);
        }
        Ok(Some(done))
    }

    /// Uploads local file `src` as `key`; `check`: look for the key first before a multipart
    /// upload (which is not conditional).
    pub(super) fn upload_file(
        &self,
        key: &str,
        src_fs: &dyn FileSystem,
        src: &Path,
        check: bool,
    ) -> Result<(Put, Transfer)> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("put file", key);
        self.hook(key)?;
        let file = src_fs.open_unmapped(src).map_err(|e| Error::io(src, e))?;
        let total = file.len();
        if total >= self.opts.multipart_bytes {
            if check && self.size(key)?.is_some() {
                return Ok((Put::Exists, Transfer::None));
            }
            self.note("multipart upload", key);
            // A multipart completion cannot be made conditional on every server; the key names
            // the table's content (number, size, checksum), so a racing writer's copy is identical.
            self.rt.block_on(self.upload_multipart(&obj, &*file, &url))?;
            return Ok((Put::Created, Transfer::Copied(total)));
        }
        // total < multipart_bytes, which fits in memory by construction of the options.
        let data = file.read_at(0, usize::try_from(total).unwrap_or(usize::MAX)).map_err(|e| Error::io(src, e))?;
        self.rt.block_on(Self::pace(self.rate.as_ref(), data.len()));
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let put = async {
            let _permit = self.permit().await;
            self.s3.put_opts(&obj, PutPayload::from(data), opts).await
        };
        match self.rt.block_on(put) {
            Ok(_) => Ok((Put::Created, Transfer::Copied(total))),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok((Put::Exists, Transfer::None))
            }
            Err(e) => Err(obj_err("conditional put", &url, e)),
        }
    }
}

/// The length of the ranged GETs a download of `size` bytes is split into, when `files_at_once`
/// files move at once through a store of `parallelism` requests: the whole object (one GET)
/// unless fewer files than `parallelism` move, then enough ranges of at least `part_bytes` to
/// keep the requests busy. Fewer requests cost less, and a server may read the whole object
/// for every ranged GET (moto does). Pure, tested alone.
pub(crate) fn range_bytes(size: u64, part_bytes: u64, parallelism: usize, files_at_once: usize) -> u64 {
    let per_file = (parallelism / files_at_once.max(1)).max(1) as u64;
    size.div_ceil(per_file).max(part_bytes).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_is_split_only_to_keep_the_requests_busy() {
        const MIB: u64 = 1 << 20;
        // As many files as requests, or more: one GET per file.
        assert_eq!(range_bytes(64 * MIB, 8 * MIB, 4, 4), 64 * MIB);
        assert_eq!(range_bytes(64 * MIB, 8 * MIB, 1, 1), 64 * MIB);
        assert_eq!(range_bytes(64 * MIB, 8 * MIB, 4, 100), 64 * MIB);
        // Five files, 16 requests: three ranges each.
        assert_eq!(range_bytes(60 * MIB, 8 * MIB, 16, 5), 20 * MIB);
        // One file, 16 requests: ranges of at least a part.
        assert_eq!(range_bytes(64 * MIB, 8 * MIB, 16, 1), 8 * MIB);
        assert_eq!(range_bytes(MIB, 8 * MIB, 16, 1), 8 * MIB);
        // Empty objects and a caller saying 0 files.
        assert_eq!(range_bytes(0, 8 * MIB, 16, 0), 8 * MIB);
    }
}
