//! Files on one machine: `{dir}/{organization}/{media id}`, with its MIME type beside it,
//! readable by their owner only. Written to a temporary name and renamed, so a file is
//! there whole or not at all.

use super::{MediaStore, StoredFile};
use crate::error::ApiError;
use async_trait::async_trait;
use bytes::Bytes;
use std::path::PathBuf;

#[derive(Clone)]
pub struct FileMediaStore {
    dir: PathBuf,
}

impl FileMediaStore {
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        crate::private_files::private_dir(&dir)?;
        Ok(Self { dir })
    }

    /// Deletes the files written before `cutoff`, as the S3 bucket's lifecycle rule expires
    /// its objects in AWS; how many went (each with its MIME type; a write a crash left
    /// half-done goes too, uncounted).
    pub async fn delete_written_before(&self, cutoff: std::time::SystemTime) -> std::io::Result<usize> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut deleted = 0;
            for organization in std::fs::read_dir(&dir)? {
                let organization = organization?;
                if !organization.file_type()?.is_dir() {
                    continue;
                }
                for file in std::fs::read_dir(organization.path())? {
                    let file = file?;
                    let path = file.path();
                    // Keys have no dots (see `path`): an extension is the store's own.
                    let extension = path.extension().and_then(|extension| extension.to_str());
                    if extension == Some("type") || !file.file_type()?.is_file() {
                        continue;
                    }
                    match still_there(file.metadata().and_then(|metadata| metadata.modified()))? {
                        Some(written) if written < cutoff => {}
                        _ => continue,
                    }
                    if still_there(std::fs::remove_file(&path))?.is_none() {
                        continue;
                    }
                    // A write a crash left half-done has no MIME type of its own.
                    if extension.is_none() {
                        still_there(std::fs::remove_file(path.with_extension("type")))?;
                        deleted += 1;
                    }
                }
            }
            Ok(deleted)
        })
        .await
        .expect("the deletion does not panic")
    }

    /// The file's path; keys are `{organization}/{media id}`, both checked when made.
    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key.replace(['.', '\\'], "_"))
    }
}

/// What a file operation gave, or `None` for a file that is not there: never written, or
/// gone meanwhile (a write renames its partial file as it finishes).
fn still_there<T>(result: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

fn unavailable(error: std::io::Error) -> ApiError {
    tracing::error!(%error, "the media directory cannot be used");
    ApiError::new(http::StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "Media storage is unavailable.")
}

#[async_trait]
impl MediaStore for FileMediaStore {
    async fn put(&self, key: &str, mime_type: &str, bytes: Bytes) -> Result<(), ApiError> {
        let path = self.path(key);
        let mime_type = mime_type.to_owned();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let parent = path.parent().expect("a media path has a directory");
            crate::private_files::private_dir(parent)?;
            let partial = path.with_extension("partial");
            std::fs::write(&partial, &bytes)?;
            std::fs::write(path.with_extension("type"), mime_type)?;
            std::fs::rename(&partial, &path)
        })
        .await
        .expect("the write does not panic")
        .map_err(unavailable)
    }

    async fn get(&self, key: &str) -> Result<Option<StoredFile>, ApiError> {
        let path = self.path(key);
        tokio::task::spawn_blocking(move || {
            let Some(bytes) = still_there(std::fs::read(&path))? else { return Ok(None) };
            let mime_type = std::fs::read_to_string(path.with_extension("type"))?;
            Ok(Some(StoredFile { mime_type, bytes: Bytes::from(bytes) }))
        })
        .await
        .expect("the read does not panic")
        .map_err(unavailable)
    }

    async fn download_url(&self, _key: &str) -> Result<Option<String>, ApiError> {
        Ok(None)
    }

    async fn upload_url(&self, _key: &str, _mime_type: &str) -> Result<Option<String>, ApiError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[tokio::test]
    async fn files_written_before_the_cutoff_are_deleted_with_their_types() {
        let dir = crate::testing::scratch_dir("media-expiry");
        let store = FileMediaStore::open(dir.clone()).unwrap();
        for key in ["org-1/old", "org-1/new", "org-2/old"] {
            store.put(key, "image/jpeg", Bytes::from_static(b"bytes")).await.unwrap();
        }
        std::fs::write(store.path("org-2/crashed").with_extension("partial"), b"by").unwrap();
        let cutoff = SystemTime::now() - Duration::from_secs(3600);
        let long_ago = cutoff - Duration::from_secs(1);
        for path in
            [store.path("org-1/old"), store.path("org-2/old"), store.path("org-2/crashed").with_extension("partial")]
        {
            std::fs::File::options().append(true).open(path).unwrap().set_modified(long_ago).unwrap();
        }

        assert_eq!(store.delete_written_before(cutoff).await.unwrap(), 2);
        assert!(store.get("org-1/old").await.unwrap().is_none());
        assert!(store.get("org-2/old").await.unwrap().is_none());
        assert_eq!(store.get("org-1/new").await.unwrap().unwrap().mime_type, "image/jpeg");
        let mut left: Vec<_> = std::fs::read_dir(dir.join("org-1"))
            .unwrap()
            .chain(std::fs::read_dir(dir.join("org-2")).unwrap())
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["new", "new.type"], "each deleted file's type went with it, and the half-written one");
        assert_eq!(store.delete_written_before(cutoff).await.unwrap(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
