//! Files on one machine: `{dir}/{organization}/{media id}`, with its MIME type beside it,
//! readable by their owner only. Written to a temporary name and renamed, so a file is
//! there whole or not at all.

use super::{MediaStore, StoredFile};
use crate::error::ApiError;
use async_trait::async_trait;
use bytes::Bytes;
use std::path::PathBuf;

pub struct FileMediaStore {
    dir: PathBuf,
}

impl FileMediaStore {
    pub fn open(dir: PathBuf) -> std::io::Result<Self> {
        crate::private_files::private_dir(&dir)?;
        Ok(Self { dir })
    }

    /// The file's path; keys are `{organization}/{media id}`, both checked when made.
    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key.replace(['.', '\\'], "_"))
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
        tokio::task::spawn_blocking(move || match std::fs::read(&path) {
            Ok(bytes) => {
                let mime_type = std::fs::read_to_string(path.with_extension("type"))?;
                Ok(Some(StoredFile { mime_type, bytes: Bytes::from(bytes) }))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
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
